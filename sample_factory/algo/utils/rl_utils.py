"""Small RL helpers at the documented import path: `make_dones`, `samples_per_trajectory`, `gae_advantages`.

The math lives in `sample_factory.algo.learning.advantages`; this module keeps upstream's public names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from sample_factory.algo.learning.advantages import apply_value_bootstrap, discounted_sum_masked, gae, vtrace

__all__ = [
    "apply_value_bootstrap",
    "discounted_sum_masked",
    "gae",
    "gae_advantages",
    "make_dones",
    "samples_per_trajectory",
    "vtrace",
]


def make_dones(terminated: Any, truncated: Any) -> Any:
    """Episode ended by either termination or truncation (bools, numpy arrays, tensors or lists of them)."""
    if isinstance(terminated, (list, tuple)):
        return [bool(a) or bool(b) for a, b in zip(terminated, truncated, strict=True)]
    if isinstance(terminated, Tensor):
        return torch.logical_or(terminated, torch.as_tensor(truncated, device=terminated.device))
    if isinstance(terminated, np.ndarray) or isinstance(truncated, np.ndarray):
        return np.logical_or(terminated, truncated)
    return bool(terminated) or bool(truncated)


def samples_per_trajectory(trajectory: dict[str, Any]) -> int:
    """Number of env transitions in a trajectory dict: the product of the first two dims of its rewards [B, T]."""
    shape = trajectory["rewards"].shape
    return int(shape[0] * shape[1]) if len(shape) >= 2 else int(shape[0])


def gae_advantages(
    rewards: Tensor, dones: Tensor, values: Tensor, valids: Tensor, gamma: float, gae_lambda: float
) -> Tensor:
    """GAE advantages only ([B, T] rewards/dones, [B, T+1] values/valids); see `advantages.gae`."""
    adv, _ = gae(rewards, dones, values, valids, gamma, gae_lambda)
    return adv
