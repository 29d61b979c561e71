"""Parameters and tuned defaults of the EnvPool Atari integration: the Atari defaults with EnvPool's batched
sampling (4 workers x 64 envs, asynchronous, no input/return normalization)."""

from __future__ import annotations

from argparse import ArgumentParser

from sf_examples.atari.atari_params import ATARI_DEFAULTS
from sf_examples.envpool.envpool_utils import add_env_agents_arg, add_envpool_common_args

ENVPOOL_ATARI_DEFAULTS: dict = {
    **ATARI_DEFAULTS,
    "num_workers": 4,
    "env_agents": 64,
    "batched_sampling": True,
    "normalize_input": False,
    "normalize_returns": False,
    "async_rl": True,
}


def add_envpool_atari_args(env: str, parser: ArgumentParser, evaluation: bool = False) -> None:
    add_envpool_common_args(env, parser)
    add_env_agents_arg(parser, default=2)
    if evaluation:
        parser.add_argument(
            "--render_mode", default="human", type=str, help="EnvPool render mode while evaluating (human, rgb_array)"
        )


def envpool_atari_override_defaults(_env: str, parser: ArgumentParser) -> None:
    """Set the EnvPool Atari defaults on `parser`; values given on the command line still win."""
    parser.set_defaults(**ENVPOOL_ATARI_DEFAULTS)
