"""Test helper (not a test): an experiment folder holding config.json and one checkpoint of an untrained model.

Loaded by tests/test_{enjoy,eval,onnx,hub}.py with importlib. Normalizer statistics are set to non-trivial values so
that tests notice when observation normalization is skipped.
"""

from __future__ import annotations

import os
import shutil

import torch

from sample_factory.algo.learning.checkpoint import save_checkpoint
from sample_factory.algo.utils.env_info import obtain_env_info
from sample_factory.cfg.experiment import save_config
from sample_factory.model.actor_critic import create_actor_critic
from sf_examples.train_gym_env import parse_args, register_gym_envs

UPSTREAM_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "upstream_2_1_1")


def make_experiment(train_dir: str, name: str, env: str = "CartPole-v1", extra: list[str] | None = None, seed: int = 0):
    """Write `<train_dir>/<name>` with config.json and checkpoint_p0/checkpoint_000000007_1234.pth; return cfg."""
    register_gym_envs()
    argv = [
        f"--env={env}",
        f"--experiment={name}",
        f"--train_dir={train_dir}",
        "--device=cpu",
        "--encoder_mlp_layers",
        "32",
        "32",
        "--rnn_size=16",
        *(extra or []),
    ]
    cfg = parse_args(argv)
    save_config(cfg)
    env_info = obtain_env_info(cfg)
    torch.manual_seed(seed)
    model = create_actor_critic(cfg, env_info.obs_space, env_info.action_space)
    with torch.no_grad():
        for name_, buf in model.named_buffers():
            if name_.endswith("running_mean"):
                buf.copy_(torch.randn_like(buf) * 0.1)
            elif name_.endswith("running_var"):
                buf.copy_(torch.rand_like(buf) + 0.5)
    ckpt = {
        "train_step": 7,
        "env_steps": 1234,
        "best_performance": -1e9,
        "model": model.state_dict(),
        "optimizer": {},
        "curr_lr": 1e-4,
    }
    for policy_id in range(int(cfg.num_policies)):
        save_checkpoint(cfg, policy_id, ckpt, 7, 1234)
    return cfg


def copy_upstream_experiment(train_dir: str, name: str) -> str:
    """Copy tests/data/upstream_2_1_1/<name> (trained by sample-factory 2.1.1) into train_dir; return its path."""
    dst = os.path.join(train_dir, name)
    shutil.copytree(os.path.join(UPSTREAM_DATA, name), dst)
    return dst
