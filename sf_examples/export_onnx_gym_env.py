"""Export a policy trained with `sf_examples.train_gym_env` to `./<experiment>.onnx`:
`python -m sf_examples.export_onnx_gym_env --env=CartPole-v1 --experiment=x [--eval_deterministic=True]`.
"""

from __future__ import annotations

import sys

from sample_factory.export_onnx import export_onnx
from sf_examples.train_gym_env import parse_args, register_gym_envs


def main(argv: list[str] | None = None) -> int:
    register_gym_envs()
    cfg = parse_args(argv, evaluation=True)
    return int(export_onnx(cfg, f"{cfg.experiment}.onnx"))


if __name__ == "__main__":
    sys.exit(main())
