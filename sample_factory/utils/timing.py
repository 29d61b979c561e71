"""`Timing`: named wall-clock counters for profiling a loop (`with timing.timeit("env_step"): ...`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timing(dict):
    """Seconds per key; `timeit` replaces the value, `add_time` accumulates it."""

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.name = name

    @contextmanager
    def timeit(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self[key] = time.perf_counter() - start

    @contextmanager
    def add_time(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self[key] = self.get(key, 0.0) + time.perf_counter() - start

    def __str__(self) -> str:
        items = ", ".join(f"{k}: {v:.4f}" for k, v in self.items())
        return f"{self.name}: {items}" if self.name else items
