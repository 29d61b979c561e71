"""Run status codes and small algorithm constants."""

from __future__ import annotations

EPS = 1e-8
EPISODIC = "episodic"


class ExperimentStatus:
    SUCCESS = 0
    FAILURE = 1
    INTERRUPTED = 2


def memory_stats(process: str, device: object) -> dict[str, float]:
    """Resident memory of this process in MB (and GPU memory when on CUDA)."""
    import psutil
    import torch

    stats = {f"memory_{process}": psutil.Process().memory_info().rss / 1e6}
    if isinstance(device, torch.device) and device.type == "cuda":
        stats[f"gpu_mem_{process}"] = torch.cuda.memory_allocated(device) / 1e6
        stats[f"gpu_cache_{process}"] = torch.cuda.memory_reserved(device) / 1e6
    return stats
