"""Download a shared experiment: `python -m sample_factory.huggingface.load_from_hub -r user/repo -d ./train_dir`.

The files land in `<train_dir>/<repo name>`, an experiment folder that enjoy (`--experiment=<repo name>`) evaluates.
"""

from __future__ import annotations

import argparse
import sys

from sample_factory.huggingface.huggingface_utils import HubError, load_from_hf


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--hf_repository", required=True, help="Hub repository <user>/<repo>")
    parser.add_argument("-d", "--train_dir", default="./train_dir", help="download into <train_dir>/<repo>")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        load_from_hf(args.train_dir, args.hf_repository)
    except HubError as exc:
        print(f"load_from_hub: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
