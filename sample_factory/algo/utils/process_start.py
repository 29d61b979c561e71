"""How worker processes start: a fork server that imports torch and our worker modules once, started as early as
the training entry point allows, so that workers are forked warm instead of each importing torch anew.

Semantics are those of "spawn" (which upstream uses): a worker gets its arguments pickled, re-imports the user's main
module, and never inherits the main process's threads, OpenMP pools, CUDA context or env libraries (the server itself
only imported the modules in `PRELOAD`, and ran no computation). What changes is the start-up: on the 2-core machine a
spawned worker took ~1.5 s to import torch and our modules; a forked one starts in tens of milliseconds once the
server has imported them, which it does while the main process imports torch itself (`warm_up` runs before
`sample_factory.train` imports the runner).

Differences from spawn, handled by the launcher: a worker's parent is the server, not the runner (the launcher tells
workers the runner's pid to watch), and a worker starts from the server's environment variables (the launcher passes
the runner's `os.environ`). `SF_START_METHOD=spawn` (or `fork`, `forkserver`) overrides the choice; Windows, which has
no fork server, uses spawn.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

# what a worker needs before it runs (imported by the server, in this order); a missing one is skipped
PRELOAD = (
    "numpy",
    "torch",
    "gymnasium",
    "sample_factory.algo.runners.launcher",
    "sample_factory.algo.sampling.rollout_worker",
    "sample_factory.algo.sampling.inference_worker",
    "sample_factory.algo.learning.learner_worker",
)
_METHODS = ("forkserver", "spawn", "fork")


def start_method() -> str:
    """The start method for worker processes: `SF_START_METHOD` if set, else forkserver where available."""
    forced = os.environ.get("SF_START_METHOD", "").strip()
    if forced:
        if forced not in _METHODS:
            raise ValueError(f"SF_START_METHOD={forced!r}: expected one of {', '.join(_METHODS)}")
        return forced
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def process_context() -> Any:
    """The multiprocessing context workers start with (a fork server imports `PRELOAD` when it starts; setting the
    list again once it runs changes nothing)."""
    method = start_method()
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(list(PRELOAD))  # type: ignore[attr-defined]
    return ctx


def warm_up(cfg: Any) -> bool:
    """Start the fork server now (it imports `PRELOAD` in the background) when this run will start worker
    processes; True if one runs. Cheap to call again."""
    if getattr(cfg, "serial_mode", False) or start_method() != "forkserver":
        return False
    process_context()
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return True


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (a killed runner that nobody reaped yet is gone too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no procfs: existence is all we know
