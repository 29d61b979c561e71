"""Watch or record a trained Atari agent: `python -m sf_examples.atari.enjoy_atari --env=atari_pong --experiment=pong`."""

from __future__ import annotations

import sys

from sf_examples.atari.train_atari import parse_atari_args, register_atari_components


def main() -> int:
    register_atari_components()
    cfg = parse_atari_args(evaluation=True)
    from sample_factory.enjoy import enjoy

    status = enjoy(cfg)
    return status[0] if isinstance(status, tuple) else status


if __name__ == "__main__":
    sys.exit(main())
