"""Train on Atari (ale-py): `python -m sf_examples.atari.train_atari --env=atari_pong --experiment=pong`."""

from __future__ import annotations

import sys

from sample_factory.utils.typing import Config
from sf_examples.atari.atari_params import atari_override_defaults
from sf_examples.atari.atari_utils import register_atari_envs


def register_atari_components() -> None:
    register_atari_envs()


def parse_atari_args(argv: list[str] | None = None, evaluation: bool = False) -> Config:
    from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args

    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=evaluation)
    atari_override_defaults(partial_cfg.env, parser)
    return parse_full_cfg(parser, argv)


def main() -> int:
    register_atari_components()
    cfg = parse_atari_args()
    from sample_factory.train import run_rl

    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
