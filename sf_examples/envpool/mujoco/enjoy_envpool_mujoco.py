"""Watch or record a MuJoCo agent trained with EnvPool:
`python -m sf_examples.envpool.mujoco.enjoy_envpool_mujoco --env=mujoco_ant --experiment=ant_envpool`."""

from __future__ import annotations

import sys

from sf_examples.envpool.mujoco.train_envpool_mujoco import (
    parse_envpool_mujoco_args,
    register_envpool_mujoco_components,
)


def main() -> int:
    register_envpool_mujoco_components()
    cfg = parse_envpool_mujoco_args(evaluation=True)
    from sample_factory.enjoy import enjoy

    status = enjoy(cfg)
    return status[0] if isinstance(status, tuple) else status


if __name__ == "__main__":
    sys.exit(main())
