"""Fast multi-process evaluation of a trained MuJoCo policy (many episodes, CSV + JSON summary):
`python -m sf_examples.mujoco.fast_eval_mujoco --env=mujoco_hopper --experiment=hopper --sample_env_episodes=64`."""

from __future__ import annotations

import sys

from sample_factory.utils.typing import Config
from sf_examples.mujoco.mujoco_params import mujoco_override_defaults
from sf_examples.mujoco.train_mujoco import register_mujoco_components


def parse_mujoco_eval_cfg(argv: list[str] | None = None) -> Config:
    """Eval config: the experiment's saved config.json becomes the defaults (CLI still wins)."""
    from sample_factory.cfg.arguments import checkpoint_override_defaults, parse_full_cfg, parse_sf_args

    parser, partial_cfg = parse_sf_args(argv=argv, evaluation=True)
    mujoco_override_defaults(partial_cfg.env, parser)
    cfg = parse_full_cfg(parser, argv)
    checkpoint_override_defaults(cfg, parser)
    return parse_full_cfg(parser, argv)


def main() -> int:
    register_mujoco_components()
    cfg = parse_mujoco_eval_cfg()
    from sample_factory.eval import do_eval

    status = do_eval(cfg)
    return status[0] if isinstance(status, tuple) else int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
