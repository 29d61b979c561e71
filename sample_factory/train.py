"""Training entry points: `make_runner(cfg)` and `run_rl(cfg)`."""

from __future__ import annotations

from sample_factory.algo.runners.runner import ParallelRunner, Runner, SerialRunner
from sample_factory.algo.utils.misc import ExperimentStatus
from sample_factory.utils.typing import Config, StatusCode


def make_runner(cfg: Config) -> tuple[Config, Runner]:
    """A SerialRunner with --serial_mode=True, else a ParallelRunner (PBT is added as an observer)."""
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
    cfg, runner = make_runner(cfg)
    status = runner.init()
    if status == ExperimentStatus.SUCCESS:
        status = runner.run()
    return status
