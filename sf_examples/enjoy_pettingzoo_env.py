"""Evaluate a policy trained with `sf_examples.train_pettingzoo_env` (both tic-tac-toe players use it):

python -m sf_examples.enjoy_pettingzoo_env --env=tictactoe_v3 --experiment=ttt --device=cpu --no_render
"""

from __future__ import annotations

import sys

from sample_factory.enjoy import enjoy
from sf_examples.train_pettingzoo_env import parse_pettingzoo_args, register_pettingzoo_components


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 on success."""
    register_pettingzoo_components()
    cfg = parse_pettingzoo_args(argv, evaluation=True)
    status, _avg_reward = enjoy(cfg)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
