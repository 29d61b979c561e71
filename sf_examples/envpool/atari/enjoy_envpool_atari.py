"""Watch or record an Atari agent trained with EnvPool:
`python -m sf_examples.envpool.atari.enjoy_envpool_atari --env=atari_pong --experiment=pong_envpool`."""

from __future__ import annotations

import sys

from sf_examples.envpool.atari.train_envpool_atari import (
    parse_envpool_atari_args,
    register_envpool_atari_components,
)


def main() -> int:
    register_envpool_atari_components()
    cfg = parse_envpool_atari_args(evaluation=True)
    from sample_factory.enjoy import enjoy

    status = enjoy(cfg)
    return status[0] if isinstance(status, tuple) else status


if __name__ == "__main__":
    sys.exit(main())
