"""Allocator settings for training processes: keep the tensors a training step frees and allocates again in the heap.

glibc serves a block of >= 128 KiB (raised dynamically up to 32 MiB) with a fresh `mmap` and hands the heap's free
top back to the OS above 128 KiB. A learner step allocates and frees the same activations every time (512x512 floats
= 1 MiB each for CartPole's tuned command), so every step page-faulted ~300-500 fresh pages in and zeroed them:
~13% of the learner's CPU (benchmarks/hot_paths.py, docs/architecture.md "CPU hot paths"). Fixed thresholds keep
such blocks in the heap; the memory a process holds stays what its largest step needs.

Only on glibc; a user's own `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` (read by glibc at start) win, and
`SF_MALLOC_TUNING=0` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's own ceiling for its dynamic threshold on 64-bit systems
TRIM_THRESHOLD_BYTES = 64 << 20
_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3

_applied = False


def tune_malloc() -> bool:
    """Set the thresholds above for this process (idempotent); True when they are in effect."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("SF_MALLOC_TUNING") == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
    _applied = ok
    return ok
