"""Watch or record a trained MuJoCo agent: `python -m sf_examples.mujoco.enjoy_mujoco --env=mujoco_hopper ...`."""

from __future__ import annotations

import sys

from sf_examples.mujoco.train_mujoco import parse_mujoco_cfg, register_mujoco_components


def main() -> int:
    register_mujoco_components()
    cfg = parse_mujoco_cfg(evaluation=True)
    from sample_factory.enjoy import enjoy

    status = enjoy(cfg)
    return status[0] if isinstance(status, tuple) else status


if __name__ == "__main__":
    sys.exit(main())
