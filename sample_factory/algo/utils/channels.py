"""Message channels: each component has one inbox; messages are small tuples, never bulk data.

`LocalChannel` serves serial mode (one process), `ProcessChannel` parallel mode (a pipe with a writer lock, so many
processes may send while exactly one reads).
"""

from __future__ import annotations

import collections
from typing import Any


class LocalChannel:
    """An in-process FIFO used in serial mode."""

    def __init__(self) -> None:
        self._q: collections.deque = collections.deque()

    def send(self, msg: Any) -> None:
        self._q.append(msg)

    def recv(self, timeout: float = 0.0) -> Any | None:
        return self._q.popleft() if self._q else None

    def recv_all(self, timeout: float = 0.0, max_msgs: int = 1_000_000) -> list[Any]:
        out: list[Any] = []
        while self._q and len(out) < max_msgs:
            out.append(self._q.popleft())
        return out

    def __len__(self) -> int:
        return len(self._q)


class ProcessChannel:
    """Many writers, one reader, across processes (spawn-safe: pass it to the child at creation)."""

    def __init__(self, ctx: Any) -> None:
        self._reader, self._writer = ctx.Pipe(duplex=False)
        self._lock = ctx.Lock()

    def send(self, msg: Any) -> None:
        with self._lock:
            self._writer.send(msg)

    def recv(self, timeout: float = 0.0) -> Any | None:
        if self._reader.poll(timeout):
            return self._reader.recv()
        return None

    def recv_all(self, timeout: float = 0.0, max_msgs: int = 1_000_000) -> list[Any]:
        out: list[Any] = []
        if not self._reader.poll(timeout):
            return out
        while len(out) < max_msgs:
            out.append(self._reader.recv())
            if not self._reader.poll(0):
                break
        return out

    @property
    def reader(self) -> Any:
        """The receiving end, for `multiprocessing.connection.wait`."""
        return self._reader
