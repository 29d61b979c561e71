"""Evaluate a policy trained with `sf_examples.train_gym_env`:
`python -m sf_examples.enjoy_gym_env --env=CartPole-v1 --experiment=x --no_render --max_num_episodes=10`.
"""

from __future__ import annotations

import sys

from sample_factory.enjoy import enjoy
from sf_examples.train_gym_env import parse_args, register_gym_envs


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 on success (unlike upstream, which returns the enjoy() tuple)."""
    register_gym_envs()
    cfg = parse_args(argv, evaluation=True)
    status, _avg_reward = enjoy(cfg)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
