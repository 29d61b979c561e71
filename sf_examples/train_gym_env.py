"""Train on any gymnasium environment: `python -m sf_examples.train_gym_env --env=CartPole-v1 --experiment=x`.

`CartPole-v1` is registered explicitly (as upstream's example does); any other gymnasium id works without code.
"""

from __future__ import annotations

import sys

import gymnasium as gym

from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.envs.env_utils import register_env
from sample_factory.train import run_rl


def make_gym_env_func(full_env_name: str, cfg=None, env_config=None, render_mode: str | None = None):  # noqa: ANN001
    return gym.make(full_env_name, render_mode=render_mode)


def register_gym_envs() -> None:
    register_env("CartPole-v1", make_gym_env_func)


def parse_args(argv: list[str] | None = None, evaluation: bool = False):  # noqa: ANN201
    parser, _partial = parse_sf_args(argv=argv, evaluation=evaluation)
    return parse_full_cfg(parser, argv)


def main() -> int:
    register_gym_envs()
    cfg = parse_args()
    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
