"""Training entry points: `make_runner(cfg)` and `run_rl(cfg)`.

The runner (and with it torch) is imported when a run starts, not when this module is: `run_rl` first starts the fork
server that worker processes are forked from (sample_factory/algo/utils/process_start.py), so that it imports torch
while this process does the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sample_factory.algo.utils.misc import ExperimentStatus
from sample_factory.utils.typing import Config, StatusCode

if TYPE_CHECKING:
    from sample_factory.algo.runners.runner import ParallelRunner, Runner, SerialRunner

__all__ = ["ParallelRunner", "Runner", "SerialRunner", "make_runner", "run_rl"]


def __getattr__(name: str) -> Any:
    """`from sample_factory.train import Runner` (and the other runner classes) keeps working, imported on use."""
    if name in ("ParallelRunner", "Runner", "SerialRunner"):
        from sample_factory.algo.runners import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_runner(cfg: Config) -> tuple[Config, Runner]:
    """A SerialRunner with --serial_mode=True, else a ParallelRunner (PBT is added as an observer)."""
    from sample_factory.algo.runners.runner import ParallelRunner, SerialRunner

    runner: Runner = SerialRunner(cfg) if cfg.serial_mode else ParallelRunner(cfg)
    if getattr(cfg, "with_pbt", False):
        try:
            from sample_factory.pbt.population_based_training import PopulationBasedTraining
        except ImportError:
            PopulationBasedTraining = None  # noqa: N806
        if PopulationBasedTraining is not None:
            runner.register_observer(PopulationBasedTraining(cfg, runner))
    return cfg, runner


def run_rl(cfg: Config) -> StatusCode:
    from sample_factory.algo.utils.process_start import warm_up

    warm_up(cfg)
    cfg, runner = make_runner(cfg)
    status = runner.init()
    if status == ExperimentStatus.SUCCESS:
        status = runner.run()
    return status
