"""Training script with deliberately broken envs, for the supervision tests (run as a subprocess).

python tests/support/faulty_env_train.py --env=crash_env --experiment=x --train_dir=/tmp/td
"""

from __future__ import annotations

import os
import sys
import time

import gymnasium as gym
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args  # noqa: E402
from sample_factory.envs.env_utils import register_env  # noqa: E402
from sample_factory.train import run_rl  # noqa: E402


class FaultyEnv(gym.Env):
    """A tiny env that misbehaves after `fail_after` steps: raises, hangs, or never does (mode 'ok')."""

    def __init__(self, mode: str, fail_after: int = 300) -> None:
        self.mode, self.fail_after = mode, fail_after
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.steps = 0
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):  # noqa: ANN201
        self.t = 0
        return np.zeros(3, np.float32), {}

    def step(self, action):  # noqa: ANN001, ANN201
        self.steps += 1
        self.t += 1
        if self.steps > self.fail_after and self.mode == "crash":
            raise RuntimeError("FaultyEnv exploded on purpose")
        if self.steps > self.fail_after and self.mode == "hang":
            time.sleep(3600)
        return np.full(3, 0.1, np.float32), float(action), self.t >= 20, False, {}


def make_crash(name, cfg=None, env_config=None, render_mode=None):  # noqa: ANN001, ANN201
    # the probe env (env_config None) must not crash: only the envs of the rollout workers do
    return FaultyEnv("crash" if env_config is not None else "ok")


def make_hang(name, cfg=None, env_config=None, render_mode=None):  # noqa: ANN001, ANN201
    return FaultyEnv("hang" if env_config is not None else "ok")


def make_ok(name, cfg=None, env_config=None, render_mode=None):  # noqa: ANN001, ANN201
    return FaultyEnv("ok")


def main() -> int:
    register_env("crash_env", make_crash)
    register_env("hang_env", make_hang)
    register_env("ok_env", make_ok)
    parser, _ = parse_sf_args()
    cfg = parse_full_cfg(parser)
    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
