"""Evaluate a policy trained with `sf_examples.train_custom_env_custom_model`:

python -m sf_examples.enjoy_custom_env_custom_model --env=my_custom_env_v1 --experiment=my_exp --no_render
"""

from __future__ import annotations

import sys

from sample_factory.enjoy import enjoy
from sf_examples.train_custom_env_custom_model import parse_custom_args, register_custom_components


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 on success."""
    register_custom_components()
    cfg = parse_custom_args(argv, evaluation=True)
    status, _avg_reward = enjoy(cfg)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
