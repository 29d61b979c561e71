"""Train on Atari through EnvPool (batched sampling):
`python -m sf_examples.envpool.atari.train_envpool_atari --env=atari_pong --experiment=pong_envpool`."""

from __future__ import annotations

import sys

from sample_factory.utils.typing import Config
from sf_examples.envpool.atari.envpool_atari_params import add_envpool_atari_args, envpool_atari_override_defaults
from sf_examples.envpool.atari.envpool_atari_utils import register_envpool_atari_envs


def register_envpool_atari_components() -> None:
    register_envpool_atari_envs()


def parse_envpool_atari_args(argv: list[str] | None = None, evaluation: bool = False) -> Config:
    from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args

    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=evaluation)
    add_envpool_atari_args(partial_cfg.env, parser, evaluation=evaluation)
    envpool_atari_override_defaults(partial_cfg.env, parser)
    return parse_full_cfg(parser, argv)


def main() -> int:
    register_envpool_atari_components()
    cfg = parse_envpool_atari_args()
    from sample_factory.train import run_rl

    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
