"""Train on MuJoCo: `python -m sf_examples.mujoco.train_mujoco --env=mujoco_hopper --experiment=hopper`."""

from __future__ import annotations

import sys

from sample_factory.utils.typing import Config
from sf_examples.mujoco.mujoco_params import mujoco_override_defaults
from sf_examples.mujoco.mujoco_utils import register_mujoco_envs


def register_mujoco_components() -> None:
    register_mujoco_envs()


def parse_mujoco_cfg(argv: list[str] | None = None, evaluation: bool = False) -> Config:
    from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args

    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=evaluation)
    mujoco_override_defaults(partial_cfg.env, parser)
    return parse_full_cfg(parser, argv)


def main() -> int:
    register_mujoco_components()
    cfg = parse_mujoco_cfg()
    from sample_factory.train import run_rl

    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
