"""Torch helpers used across the algorithm: element counts, scalars, masked selection, device sync, no-grad context."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from sample_factory.model.model_utils import calc_num_elements

__all__ = ["calc_num_elements", "to_scalar", "masked_select", "synchronize", "inference_context", "to_torch_dtype"]


def to_scalar(value: Any) -> Any:
    """A Python number from a one-element tensor or numpy value; anything else is returned unchanged."""
    if isinstance(value, torch.Tensor):
        return value.item()
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        return value.item()
    return value


def masked_select(x: torch.Tensor, mask: torch.Tensor | None, num_non_mask: int | None = None) -> torch.Tensor:
    """Rows of `x` where `mask` is true (all of `x` when mask is None or when every element is valid).

    `num_non_mask` (the number of true elements, if the caller already knows it) avoids a device sync for the check.
    """
    if mask is None:
        return x
    if num_non_mask is not None and num_non_mask == mask.numel():
        return x
    return x[mask]


def synchronize(device: torch.device | str) -> None:
    """Wait for queued CUDA work on `device` (no-op on CPU); use before timing GPU code."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def inference_context(no_grad_only: bool = False) -> Iterator[None]:
    """`torch.inference_mode()` (or plain `torch.no_grad()` when tensors made inside must later be used with grad)."""
    ctx = torch.no_grad() if no_grad_only else torch.inference_mode()
    with ctx:
        yield


_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "uint8": torch.uint8,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
}


def to_torch_dtype(numpy_dtype: Any) -> torch.dtype:
    """The torch dtype matching a numpy dtype (e.g. of a gymnasium space)."""
    import numpy as np

    name = np.dtype(numpy_dtype).name
    if name not in _DTYPES:
        raise TypeError(f"No torch dtype for numpy dtype {name!r}")
    return _DTYPES[name]
