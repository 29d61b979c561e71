"""Counting envs for the sampler bookkeeping tests, and a dataset recorder that works in every learner process.

Each observation encodes (env id, global step counter, step in episode, last action), so the datasets a learner
trains on tell exactly which env steps they hold. Used in-process by tests/test_sampling.py (serial launcher) and as
a training script by tests/test_sampling_parallel.py (parallel launcher):

    SF_TEST_RECORD_DIR=/tmp/rec python tests/support/counting_envs.py --env=counting_env --experiment=x ...

With SF_TEST_RECORD_DIR set, importing this module patches `Learner.train` so that every dataset trained on is
saved (bookkeeping fields only, one file per dataset, written atomically) to that directory. Spawned children
import this module when they unpickle the env factory, so the patch is active in every learner process.
"""

from __future__ import annotations

import itertools
import os
import sys
from typing import Any

import gymnasium as gym
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

RECORD_DIR_VAR = "SF_TEST_RECORD_DIR"
# dataset fields kept by the recorder (obs is the counting env's observation tensor)
RECORDED_FIELDS = ("actions", "rewards", "dones", "time_outs", "policy_version", "policy_id")


class CountingEnv(gym.Env):
    """obs = [env_id, counter, step_in_episode, last_action]; reward = counter (before the step).

    The counter never resets. Episodes last 3..24 steps (from an rng seeded with `seed_len`); an episode of even
    length ends truncated, one of odd length terminated. After a reset, last_action is -1.
    """

    def __init__(self, env_id: int, seed_len: int) -> None:
        self.env_id = env_id
        self.observation_space = gym.spaces.Box(-1e9, 1e9, (4,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.counter = 0
        self.t = 0
        self.len = 0
        self.rng = np.random.default_rng(seed_len)

    def _obs(self, last_action: float) -> np.ndarray:
        return np.array([self.env_id, self.counter, self.t, last_action], np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self.t = 0
        self.len = int(self.rng.integers(3, 25))
        return self._obs(-1), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = float(self.counter)
        self.counter += 1
        self.t += 1
        truncated = self.t >= self.len and self.len % 2 == 0
        terminated = self.t >= self.len and not truncated
        return self._obs(float(action)), reward, terminated, truncated, {}


class CountingMultiEnv(gym.Env):
    """Two agents (env ids 2 * env_id + i), each with its own counter; agent 1 is inactive whenever its counter is
    odd; agents auto-reset."""

    def __init__(self, env_id: int) -> None:
        self.num_agents = 2
        self.is_multiagent = True
        self.envs = [CountingEnv(env_id * 2 + i, env_id * 2 + i) for i in range(2)]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[list, list[dict]]:
        obs = [e.reset()[0] for e in self.envs]
        return obs, [{"is_active": True} for _ in self.envs]

    def step(self, actions: Any) -> tuple[list, list, list, list, list[dict]]:
        out = [e.step(int(a)) for e, a in zip(self.envs, actions)]
        obs, rew, term, trunc, infos = [], [], [], [], []
        for i, (o, r, te, tr, _) in enumerate(out):
            if te or tr:
                o, _ = self.envs[i].reset()
            obs.append(o)
            rew.append(r)
            term.append(te)
            trunc.append(tr)
            infos.append({"is_active": i == 0 or self.envs[i].counter % 2 == 0})
        return obs, rew, term, trunc, infos


def make_counting(name: str, cfg: Any = None, env_config: Any = None, render_mode: str | None = None) -> CountingEnv:
    env_id = env_config.env_id if env_config is not None else 999
    return CountingEnv(env_id, env_id)


def make_counting_multi(
    name: str, cfg: Any = None, env_config: Any = None, render_mode: str | None = None
) -> CountingMultiEnv:
    env_id = env_config.env_id if env_config is not None else 999
    return CountingMultiEnv(env_id)


def register_counting_envs() -> None:
    from sample_factory.envs.env_utils import register_env

    register_env("counting_env", make_counting)
    register_env("counting_multi_env", make_counting_multi)


# ------------------------------------------------------------------ recording the datasets of every learner


def install_recorder(record_dir: str) -> None:
    """Patch `Learner.train` (once per process) to save each dataset's bookkeeping fields to `record_dir`.

    A record holds: policy (the learner's policy id), train_step (the learner's version when training on it
    started), obs, the RECORDED_FIELDS, valids (the learner's own mask, [B, T]) and stats (what train returned).
    Files are named p{policy}_{pid}_{seq}.pt; seq orders the datasets of one learner process.
    """
    import torch

    from sample_factory.algo.learning.learner import Learner

    if getattr(Learner.train, "_records_to", None) is not None:
        return
    original_train, original_prepare = Learner.train, Learner.prepare_dataset
    seq = itertools.count()

    def prepare_dataset(self: Learner, dataset: dict[str, Any]) -> Any:
        batch = original_prepare(self, dataset)
        self._recorded_valids = batch["valids"].detach().cpu()
        return batch

    def train(self: Learner, dataset: dict[str, Any], **kwargs: Any) -> dict[str, float]:
        train_step = int(self.train_step)
        record = {
            "policy": int(self.policy_id),
            "train_step": train_step,
            "obs": dataset["obs"]["obs"].detach().cpu().clone(),
            **{k: dataset[k].detach().cpu().clone() for k in RECORDED_FIELDS},
        }
        stats = original_train(self, dataset, **kwargs)
        record["valids"] = self._recorded_valids.reshape(record["rewards"].shape)
        record["stats"] = {k: float(v) for k, v in stats.items()}
        record["sgd_steps"] = int(self.train_step) - train_step
        name = f"p{self.policy_id}_{os.getpid()}_{next(seq):06d}.pt"
        tmp = os.path.join(record_dir, f".{name}.tmp")
        torch.save(record, tmp)
        os.replace(tmp, os.path.join(record_dir, name))
        return stats

    train._records_to = record_dir  # type: ignore[attr-defined]
    Learner.train = train  # type: ignore[method-assign]
    Learner.prepare_dataset = prepare_dataset  # type: ignore[method-assign]


def load_records(record_dir: str) -> list[dict[str, Any]]:
    """All records of `record_dir`, ordered by (policy, learner process, seq)."""
    import torch

    names = sorted(n for n in os.listdir(record_dir) if n.endswith(".pt") and not n.startswith("."))
    return [torch.load(os.path.join(record_dir, n), weights_only=False) for n in names]


if os.environ.get(RECORD_DIR_VAR):
    install_recorder(os.environ[RECORD_DIR_VAR])


def main() -> int:
    from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
    from sample_factory.train import run_rl

    register_counting_envs()
    parser, _ = parse_sf_args()
    cfg = parse_full_cfg(parser)
    return int(run_rl(cfg))


if __name__ == "__main__":
    sys.exit(main())
