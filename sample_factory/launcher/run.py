"""Launcher entry point: expand a run description's experiments and run them on one backend.

    python -m sample_factory.launcher.run --run=sf_examples.experiments.cartpole_seeds --backend=processes \
        --max_parallel=2 --pause_between=1 --experiments_per_gpu=-1 --num_gpus=1
"""

from __future__ import annotations

import argparse
import sys

from sample_factory.launcher import run_ngc, run_processes, run_slurm
from sample_factory.launcher.launcher_utils import load_run_module
from sample_factory.launcher.run_description import RunDescription
from sample_factory.utils.utils import log

BACKENDS = {"processes": run_processes.run, "slurm": run_slurm.run, "ngc": run_ngc.run}


def launcher_argparser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the experiments of a run description (a module defining RUN_DESCRIPTION)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--train_dir", default="./train_dir", type=str, help="Root folder of all experiments")
    parser.add_argument(
        "--run", type=str, required=True, help="Module (or .py file) defining RUN_DESCRIPTION, e.g. sf_examples..."
    )
    parser.add_argument("--backend", default="processes", choices=list(BACKENDS), help="Where experiments run")
    parser.add_argument("--pause_between", default=1, type=int, help="Seconds between starting two experiments")
    parser.add_argument(
        "--experiment_suffix", default="", type=str, help="Appended to the experiment folder: <base>_<suffix>"
    )
    run_processes.add_processes_args(parser)
    run_slurm.add_slurm_args(parser)
    run_ngc.add_ngc_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 when every experiment succeeded (or was submitted/printed)."""
    args = launcher_argparser().parse_args(argv)
    try:
        module = load_run_module(args.run)
    except (ImportError, FileNotFoundError) as e:
        log.error("Cannot load --run=%s: %s", args.run, e)
        return 1
    run_description = getattr(module, "RUN_DESCRIPTION", None)
    if not isinstance(run_description, RunDescription):
        log.error("--run=%s must define RUN_DESCRIPTION = RunDescription(...), found %r", args.run, run_description)
        return 1
    return BACKENDS[args.backend](run_description, args)


if __name__ == "__main__":
    sys.exit(main())
