"""Re-export of the running mean/std normalizers, which live in the model layer (`sample_factory.model`)."""

from sample_factory.model.running_mean_std import (
    ObservationNormalizer,
    RunningMeanStdDictInPlace,
    RunningMeanStdInPlace,
    update_mean_var_count,
)

__all__ = ["ObservationNormalizer", "RunningMeanStdDictInPlace", "RunningMeanStdInPlace", "update_mean_var_count"]
