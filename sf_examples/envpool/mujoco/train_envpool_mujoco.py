"""Train on MuJoCo through EnvPool (one serial worker, batched sampling):
`python -m sf_examples.envpool.mujoco.train_envpool_mujoco --env=mujoco_ant --experiment=ant_envpool`."""

from __future__ import annotations

import sys

from sample_factory.utils.typing import Config
from sf_examples.envpool.mujoco.envpool_mujoco_params import add_envpool_mujoco_args, envpool_mujoco_override_defaults
from sf_examples.envpool.mujoco.envpool_mujoco_utils import register_envpool_mujoco_envs


def register_envpool_mujoco_components() -> None:
    register_envpool_mujoco_envs()


def parse_envpool_mujoco_args(argv: list[str] | None = None, evaluation: bool = False) -> Config:
    from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args

    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=evaluation)
    add_envpool_mujoco_args(partial_cfg.env, parser, evaluation=evaluation)
    envpool_mujoco_override_defaults(partial_cfg.env, parser)
    cfg = parse_full_cfg(parser, argv)
    if not cfg.batched_sampling:
        raise ValueError("EnvPool MuJoCo needs --batched_sampling=True (one EnvPool batch per worker)")
    return cfg


def main() -> int:
    register_envpool_mujoco_components()
    cfg = parse_envpool_mujoco_args()
    from sample_factory.train import run_rl

    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
