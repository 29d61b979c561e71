"""Bookkeeping of the sampler: every env step lands in exactly one trajectory slot, aligned and in order.

A counting env (tests/support/counting_envs.py) encodes (env id, global step counter, step in episode, last action)
in its observation; a recording learner keeps every dataset. Runs the real rollout/inference/learner components
through the serial launcher for every sampling mode (sync/async x splits x single/multi-agent x 1/2 policies).
tests/test_sampling_parallel.py checks the same through the parallel launcher.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from sample_factory.algo.utils.misc import ExperimentStatus
from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.envs.env_utils import register_env
from sample_factory.train import run_rl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

from counting_envs import make_counting, make_counting_multi  # noqa: E402

RECORDED: list[dict] = []


class RecordingLearner:
    """Stands in for the Learner: records datasets, bumps the policy version."""

    def __init__(self, cfg, env_info, policy_id=0, device="cpu", actor_critic=None):  # noqa: ANN001
        self.cfg, self.policy_id, self.actor_critic = cfg, policy_id, actor_critic
        self.train_step, self.env_steps, self.best_performance = 0, 0, -1e9

    def init(self) -> None:
        pass

    def train(self, dataset: dict, with_stats: bool = True) -> dict:
        RECORDED.append(
            {
                "policy": self.policy_id,
                "version": self.train_step,
                **{k: (v["obs"].clone() if k == "obs" else v.clone()) for k, v in dataset.items()},
            }
        )
        self.train_step += 1
        return {}

    def get_checkpoint_dict(self) -> dict:
        return {
            "train_step": self.train_step,
            "env_steps": self.env_steps,
            "best_performance": -1e9,
            "model": self.actor_critic.state_dict(),
            "optimizer": {},
            "curr_lr": 0.0,
        }

    def load_checkpoint_dict(self, d: dict) -> None:
        pass


@pytest.fixture
def recording(monkeypatch):
    import sample_factory.algo.learning.learner as learner_module

    monkeypatch.setattr(learner_module, "Learner", RecordingLearner)
    RECORDED.clear()
    register_env("counting_env", make_counting)
    register_env("counting_multi_env", make_counting_multi)
    yield RECORDED
    RECORDED.clear()


def _run(tmp_path, env: str, *args: str) -> None:
    argv = [
        f"--env={env}",
        "--experiment=bk",
        f"--train_dir={tmp_path}",
        "--device=cpu",
        "--serial_mode=True",
        "--use_rnn=False",
        "--decorrelate_envs_on_one_worker=False",
        "--rollout=8",
        *args,
    ]
    parser, _ = parse_sf_args(argv)
    cfg = parse_full_cfg(parser, argv)
    assert run_rl(cfg) == ExperimentStatus.SUCCESS


def _check(recorded: list[dict], max_lag: int, num_policies: int = 1) -> None:
    assert recorded, "the learner received no dataset"
    seen: dict[int, list[int]] = {}
    for ds in recorded:
        obs, acts, rew, dones, pid = ds["obs"], ds["actions"], ds["rewards"], ds["dones"], ds["policy_id"]
        B, T1 = obs.shape[:2]
        for b in range(B):
            env_id = int(obs[b, 0, 0])
            assert (obs[b, :, 0] == env_id).all(), "a trajectory mixes envs"
            counters = obs[b, :, 1].long()
            # consecutive steps: the shared counter advances by one per step, also across episode resets
            assert (counters[1:] - counters[:-1] == 1).all(), counters
            # rewards align with the step that produced them
            assert np.allclose(rew[b].numpy(), counters[:-1].numpy()), (rew[b], counters)
            for t in range(T1 - 1):
                ended = bool(obs[b, t + 1, 2] == 0)
                assert bool(dones[b, t]) == ended
                if not ended:  # the action the env received is the one stored for step t
                    assert int(obs[b, t + 1, 3]) == int(acts[b, t])
                if pid[b, t] >= 0:
                    assert ds["version"] - int(ds["policy_version"][b, t]) <= max_lag
            seen.setdefault(env_id, []).extend(counters[:-1].tolist())
        assert ((pid == ds["policy"]) | (pid == -1)).all(), "steps of another policy in this learner's dataset"
    for env_id, counters in seen.items():
        assert len(counters) == len(set(counters)), f"env {env_id}: duplicated steps"
        assert sorted(counters) == list(range(min(counters), min(counters) + len(counters))), (
            f"env {env_id}: lost steps"
        )


@pytest.mark.parametrize(
    "args",
    [
        ["--async_rl=True", "--num_workers=2", "--num_envs_per_worker=2", "--batch_size=32"],
        ["--async_rl=False", "--num_workers=2", "--num_envs_per_worker=2", "--batch_size=32"],
        ["--async_rl=True", "--num_workers=1", "--num_envs_per_worker=4", "--worker_num_splits=1", "--batch_size=64"],
        [
            "--async_rl=False",
            "--num_workers=3",
            "--num_envs_per_worker=4",
            "--batch_size=96",
            "--num_batches_per_epoch=2",
        ],
        [
            "--async_rl=True",
            "--num_workers=2",
            "--num_envs_per_worker=2",
            "--batch_size=16",
            "--num_batches_to_accumulate=1",
        ],
    ],
)
def test_single_agent_bookkeeping(tmp_path, recording, args):
    _run(tmp_path, "counting_env", "--train_for_env_steps=3000", *args)
    _check(recording, max_lag=10)


@pytest.mark.parametrize("async_rl", [True, False])
def test_multi_agent_inactive_bookkeeping(tmp_path, recording, async_rl):
    _run(
        tmp_path,
        "counting_multi_env",
        "--train_for_env_steps=3000",
        f"--async_rl={async_rl}",
        "--num_workers=2",
        "--num_envs_per_worker=2",
        "--batch_size=64",
    )
    _check(recording, max_lag=10)
    inactive = sum(int((ds["policy_id"] == -1).sum()) for ds in recording)
    assert inactive > 0, "inactive agent steps must be marked policy_id == -1"


@pytest.mark.parametrize("async_rl", [True, False])
def test_two_policies_bookkeeping(tmp_path, recording, async_rl):
    _run(
        tmp_path,
        "counting_env",
        "--train_for_env_steps=3000",
        "--num_policies=2",
        f"--async_rl={async_rl}",
        "--num_workers=2",
        "--num_envs_per_worker=2",
        "--batch_size=32",
    )
    _check(recording, max_lag=10, num_policies=2)
    assert {ds["policy"] for ds in recording} == {0, 1}


def test_sync_mode_has_no_policy_lag(tmp_path, recording):
    _run(
        tmp_path,
        "counting_env",
        "--train_for_env_steps=2000",
        "--async_rl=False",
        "--num_workers=2",
        "--num_envs_per_worker=2",
        "--batch_size=32",
    )
    for ds in recording:
        assert (ds["policy_version"] == ds["version"]).all(), "sync mode must collect with the current policy"


@pytest.mark.parametrize(
    ("args", "fused", "expected"),
    [
        # upstream's CartPole defaults: 2 envs per worker, a pool of 16 rounds per worker -> one merged split
        ((), True, 1),
        # the tuned CartPole command: 20 envs per worker, 2 rounds -> double buffering kept (merging measured slower)
        (("--num_envs_per_worker=20", "--batch_size=512"), True, 2),
        # separate inference processes: double buffering overlaps env steps with inference, always kept
        ((), False, 2),
        (("--worker_num_splits=1",), True, 1),
    ],
)
def test_effective_num_splits(args, fused, expected):
    import gymnasium as gym

    from sample_factory.algo.runners.wiring import trajectory_pool_sizes
    from sample_factory.algo.sampling.rollout_worker import effective_num_splits
    from sample_factory.algo.utils.env_info import EnvInfo

    argv = ["--env=counting_env", "--experiment=x", "--num_workers=2", *args]
    parser, _ = parse_sf_args(argv=argv)
    cfg = parse_full_cfg(parser, argv)
    obs_space = gym.spaces.Dict({"obs": gym.spaces.Box(0, 1, (1,))})
    info = EnvInfo(obs_space=obs_space, action_space=gym.spaces.Discrete(2), num_agents=1)
    pool = trajectory_pool_sizes(cfg, info)[0]
    assert effective_num_splits(cfg, fused, pool, cfg.num_envs_per_worker) == expected
