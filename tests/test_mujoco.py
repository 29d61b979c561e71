"""MuJoCo integration (gymnasium 1.x `-v5` tasks): names, env creation through the registry, defaults, `--help`,
and (slow) a short command-line training run followed by enjoy and fast eval."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mujoco", reason="the mujoco extra is not installed")

import gymnasium as gym  # noqa: E402

from sample_factory.envs.create_env import create_env  # noqa: E402
from sample_factory.utils.attr_dict import AttrDict  # noqa: E402
from sample_factory.utils.utils import is_module_available  # noqa: E402
from sf_examples.mujoco.mujoco_params import MUJOCO_DEFAULTS  # noqa: E402
from sf_examples.mujoco.mujoco_utils import MUJOCO_ENVS, mujoco_env_by_name  # noqa: E402
from sf_examples.mujoco.train_mujoco import register_mujoco_components  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_RUNNER = all(
    is_module_available(m) for m in ("sample_factory.train", "sample_factory.enjoy", "sample_factory.eval")
)

DOCUMENTED = {
    "mujoco_hopper": "Hopper",
    "mujoco_halfcheetah": "HalfCheetah",
    "mujoco_humanoid": "Humanoid",
    "mujoco_ant": "Ant",
    "mujoco_standup": "HumanoidStandup",
    "mujoco_doublependulum": "InvertedDoublePendulum",
    "mujoco_pendulum": "InvertedPendulum",
    "mujoco_reacher": "Reacher",
    "mujoco_walker": "Walker2d",
    "mujoco_pusher": "Pusher",
    "mujoco_swimmer": "Swimmer",
}


def test_11_names_map_to_current_gymnasium_ids():
    assert {spec.name: spec.env_id for spec in MUJOCO_ENVS} == {k: f"{v}-v5" for k, v in DOCUMENTED.items()}
    for spec in MUJOCO_ENVS:
        assert spec.env_id in gym.registry
    with pytest.raises(ValueError):
        mujoco_env_by_name("mujoco_nosuchtask")


@pytest.mark.parametrize("name", ["mujoco_hopper", "mujoco_halfcheetah", "mujoco_pendulum"])
def test_env_through_registry(name):
    register_mujoco_components()
    env = create_env(name, AttrDict(episode_counter=False), AttrDict(worker_index=0, vector_index=1, env_id=1), None)
    assert isinstance(env.action_space, gym.spaces.Box) and len(env.action_space.shape) == 1
    assert env.observation_space.dtype == np.float32
    obs, _ = env.reset()
    assert obs.shape == env.observation_space.shape and obs.dtype == np.float32
    for _ in range(10):
        obs, rew, terminated, truncated, _ = env.step(env.action_space.sample())
        assert np.isfinite(rew) and obs.dtype == np.float32
        if terminated or truncated:
            env.reset()
    env.close()


def test_hopper_spaces_and_time_limit():
    register_mujoco_components()
    env = create_env("mujoco_hopper", None, None, None)
    assert env.observation_space.shape == (11,) and env.action_space.shape == (3,)
    assert env.spec.max_episode_steps == 1000


def test_mujoco_defaults_are_the_documented_ones():
    d = MUJOCO_DEFAULTS
    assert d["lr_schedule"] == "linear_decay" and d["learning_rate"] == 0.00295
    assert d["encoder_mlp_layers"] == [64, 64] and d["nonlinearity"] == "tanh"
    assert (d["num_workers"], d["num_envs_per_worker"], d["worker_num_splits"]) == (8, 8, 2)
    assert d["value_bootstrap"] and d["kl_loss_coeff"] == 0.1 and d["value_loss_coeff"] == 1.3


def test_help_shows_mujoco_defaults():
    out = subprocess.run(
        [sys.executable, "-m", "sf_examples.mujoco.train_mujoco", "--env=mujoco_hopper", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "(default: linear_decay)" in text and "(default: 0.00295)" in text and "(default: [64, 64])" in text


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.xfail(not HAS_RUNNER, reason="needs runner (sample_factory.train / enjoy / eval)", strict=False)
def test_cli_train_enjoy_fast_eval(tmp_path):
    common = ["--env=mujoco_hopper", "--experiment=mujoco_cli", f"--train_dir={tmp_path}", "--device=cpu"]
    out = _run(
        [
            "sf_examples.mujoco.train_mujoco",
            *common,
            "--num_workers=1",
            "--num_envs_per_worker=2",
            "--worker_num_splits=1",
            "--batch_size=128",
            "--num_batches_per_epoch=1",
            "--train_for_env_steps=2000",
            "--serial_mode=True",
        ],
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    exp_dir = tmp_path / "mujoco_cli"
    assert (exp_dir / "config.json").is_file()

    out = _run(["sf_examples.mujoco.enjoy_mujoco", *common, "--no_render", "--max_num_frames=300"], timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    out = _run(
        ["sf_examples.mujoco.enjoy_mujoco", *common, "--save_video", "--video_frames=50", "--max_num_frames=50"],
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert any(p.endswith(".mp4") for p in os.listdir(exp_dir))

    out = _run(
        ["sf_examples.mujoco.fast_eval_mujoco", *common, "--num_workers=1", "--sample_env_episodes=4"], timeout=300
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
