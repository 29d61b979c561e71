"""Checkpoint files of one policy (interface.md section 2): naming, atomic writes, rotation, finding and safe loading.

Layout: <train_dir>/<experiment>/checkpoint_p{pid}/{checkpoint,best}_*.pth and milestones/checkpoint_*.pth.
Loading always uses torch.load(weights_only=True); numpy scalars written by upstream (numpy 1.x) are allow-listed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pickle
import zipfile
from typing import Any

import numpy as np
import torch

from sample_factory.utils.utils import checkpoint_dir, ensure_dir_exists, log

__all__ = [
    "CheckpointError",
    "checkpoint_dir",
    "get_checkpoints",
    "latest_checkpoint_path",
    "load_checkpoint",
    "save_best_checkpoint",
    "save_checkpoint",
    "save_milestone",
]

CHECKPOINT_PREFIXES = {"latest": "checkpoint", "best": "best"}


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read (truncated, not a torch checkpoint, or holding unsafe objects)."""


def _checkpoint_name(train_step: int, env_steps: int) -> str:
    return f"checkpoint_{int(train_step):09d}_{int(env_steps)}.pth"


def _atomic_save(obj: dict[str, Any], dir_path: str, filename: str, temp_name: str) -> str:
    """torch.save into `temp_name`, then os.replace onto `filename`: readers never see a partial file."""
    ensure_dir_exists(dir_path)
    temp_path = os.path.join(dir_path, temp_name)
    final_path = os.path.join(dir_path, filename)
    try:
        with open(temp_path, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        os.replace(temp_path, final_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp_path)
        raise
    return final_path


def _remove_oldest(dir_path: str, prefix: str, keep: int) -> None:
    for path in get_checkpoints(dir_path, prefix)[: -max(keep, 1)]:
        try:
            os.remove(path)
        except FileNotFoundError:  # removed concurrently; nothing to do
            pass


def get_checkpoints(checkpoints_dir: str, prefix: str = "checkpoint") -> list[str]:
    """Paths of `<prefix>_*.pth` in the folder, sorted lexicographically (= by train_step, which is zero-padded)."""
    return sorted(glob.glob(os.path.join(glob.escape(checkpoints_dir), f"{prefix}_*.pth")))


def save_checkpoint(cfg: Any, policy_id: int, ckpt: dict[str, Any], train_step: int, env_steps: int) -> str:
    """Write checkpoint_{train_step:09d}_{env_steps}.pth atomically and keep only the newest `keep_checkpoints`."""
    dir_path = checkpoint_dir(cfg, policy_id)
    path = _atomic_save(ckpt, dir_path, _checkpoint_name(train_step, env_steps), "checkpoint_temp")
    _remove_oldest(dir_path, "checkpoint", int(getattr(cfg, "keep_checkpoints", 2)))
    log.debug("Saved %s", path)
    return path


def save_best_checkpoint(cfg: Any, policy_id: int, ckpt: dict[str, Any], metric_name: str, value: float) -> str:
    """Write best_{train_step:09d}_{env_steps}_{metric}_{value:.3f}.pth (counters from `ckpt`); only one is kept."""
    dir_path = checkpoint_dir(cfg, policy_id)
    name = f"best_{int(ckpt['train_step']):09d}_{int(ckpt['env_steps'])}_{metric_name}_{float(value):.3f}.pth"
    path = _atomic_save(ckpt, dir_path, name, "best_temp")
    _remove_oldest(dir_path, "best", 1)
    log.debug("Saved new best policy %s", path)
    return path


def save_milestone(cfg: Any, policy_id: int, ckpt: dict[str, Any]) -> str:
    """Write milestones/checkpoint_{train_step:09d}_{env_steps}.pth (counters from `ckpt`); never deleted."""
    dir_path = os.path.join(checkpoint_dir(cfg, policy_id), "milestones")
    name = _checkpoint_name(ckpt["train_step"], ckpt["env_steps"])
    return _atomic_save(ckpt, dir_path, name, "checkpoint_temp")


def latest_checkpoint_path(cfg: Any, policy_id: int, kind: str = "latest") -> str | None:
    """Newest `checkpoint_*` (kind="latest") or `best_*` (kind="best") file of the policy, or None."""
    if kind not in CHECKPOINT_PREFIXES:
        raise ValueError(f"Unknown checkpoint kind {kind!r}: use 'latest' or 'best'")
    dir_path = os.path.join(cfg.train_dir, cfg.experiment, f"checkpoint_p{policy_id}")
    found = get_checkpoints(dir_path, CHECKPOINT_PREFIXES[kind])
    return found[-1] if found else None


def _numpy_safe_globals() -> list[Any]:
    """numpy globals that plain data in old checkpoints needs (scalars, dtypes, arrays), under both module names.

    numpy 1.x pickles scalars as `numpy.core.multiarray.scalar`; numpy 2 names the module `numpy._core`.
    """
    core = np._core.multiarray  # type: ignore[attr-defined]
    allowed: list[Any] = [np.dtype, np.ndarray]
    for name in ("scalar", "_reconstruct"):
        fn = getattr(core, name)
        allowed += [fn, (fn, f"numpy.core.multiarray.{name}"), (fn, f"numpy._core.multiarray.{name}")]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return allowed


def _to_python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def load_checkpoint(path: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with torch.load(weights_only=True), tensors mapped to `device`.

    Top-level numpy scalars (e.g. `best_performance` of upstream checkpoints) become Python numbers.
    Raises CheckpointError (one line naming the file) for a missing, truncated or foreign file.
    """
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            ckpt = torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "Weights only load failed" in reason:
            reason = "it holds objects that are not plain data (not loaded for safety)"
        raise CheckpointError(f"Cannot load checkpoint {path}: {reason}") from exc
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"Cannot load checkpoint {path}: expected a dict, found {type(ckpt).__name__}")
    return {key: _to_python(value) for key, value in ckpt.items()}
