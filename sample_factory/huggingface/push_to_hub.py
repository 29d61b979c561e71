"""Share an experiment folder: `python -m sample_factory.huggingface.push_to_hub -r user/repo -d <exp_dir>`.

Uploads config.json, the latest checkpoints, sf_log.txt, the video and a generated model card (README.md). To put
evaluation results in the card, run enjoy with `--push_to_hub --hf_repository=user/repo` instead.
"""

from __future__ import annotations

import argparse
import sys

from sample_factory.huggingface.huggingface_utils import HubError, push_to_hf


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--hf_repository", required=True, help="Hub repository <user>/<repo>")
    parser.add_argument("-d", "--experiment_dir", required=True, help="experiment folder (holds config.json)")
    parser.add_argument("--train_script", default=None, help="training module named in the model card")
    parser.add_argument("--enjoy_script", default=None, help="evaluation module named in the model card")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        push_to_hf(
            args.experiment_dir, args.hf_repository, train_script=args.train_script, enjoy_script=args.enjoy_script
        )
    except HubError as exc:
        print(f"push_to_hub: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
