"""Training script for the process start-up tests (run as a subprocess): every env of a worker records its process's
pid, its parent's pid, a variable that this script sets only after the fork server started, and a draw from the
process's torch random stream.

python tests/support/process_start_train.py --env=probe_env --experiment=x --train_dir=/tmp/td
"""

from __future__ import annotations

import json
import os
import sys

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from sample_factory.algo.utils.process_start import warm_up  # noqa: E402
from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args  # noqa: E402
from sample_factory.envs.env_utils import register_env  # noqa: E402
from sample_factory.train import run_rl  # noqa: E402

LATE_VAR = "SF_TEST_SET_AFTER_SERVER_START"


class TinyEnv(gym.Env):
    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):  # noqa: ANN201
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):  # noqa: ANN001, ANN201
        self.t += 1
        return np.zeros(2, np.float32), float(action), self.t >= 10, False, {}


def make_probe_env(name, cfg=None, env_config=None, render_mode=None):  # noqa: ANN001, ANN201
    if env_config is not None:  # the main process's probe of the spaces records itself too (its pid is the main's)
        record = {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "late_var": os.environ.get(LATE_VAR),
            "env_id": int(env_config["env_id"]),
            "torch_draw": torch.rand(4).tolist(),  # this process's torch stream (the one its inference samples from)
        }
        path = os.path.join(cfg.train_dir, f"env_{os.getpid()}_{env_config['env_id']}.json")
        with open(path, "w") as f:
            json.dump(record, f)
    return TinyEnv()


def main() -> int:
    register_env("probe_env", make_probe_env)
    parser, _ = parse_sf_args()
    cfg = parse_full_cfg(parser)
    print(f"main pid {os.getpid()}, fork server started: {warm_up(cfg)}", flush=True)
    os.environ[LATE_VAR] = "yes"  # after the server started: a worker must still see it
    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
