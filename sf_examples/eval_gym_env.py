"""Fast multi-process evaluation of a policy trained with `sf_examples.train_gym_env`:
`python -m sf_examples.eval_gym_env --env=CartPole-v1 --experiment=x --num_workers=4 --sample_env_episodes=256`.
"""

from __future__ import annotations

import sys

from sample_factory.eval import do_eval
from sf_examples.train_gym_env import parse_args, register_gym_envs


def main(argv: list[str] | None = None) -> int:
    register_gym_envs()
    cfg = parse_args(argv, evaluation=True)
    return int(do_eval(cfg))


if __name__ == "__main__":
    sys.exit(main())
