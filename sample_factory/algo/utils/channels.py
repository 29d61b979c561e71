"""Message channels: each component has one inbox; messages are small tuples, never bulk data.

`LocalChannel` serves serial mode (one process), `ProcessChannel` parallel mode (a pipe with a writer lock, so many
processes may send while exactly one reads). A `ProcessChannel` whose reader process called `claim_reader()` takes
messages sent from that same process through an in-process queue instead of the pipe (e.g. the actions a fused
inference worker hands to its own rollout worker), keeping their order relative to each other.
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
        self._local: collections.deque | None = None  # set only in the reader's process, by claim_reader()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_local"] = None  # the in-process queue never travels to another process
        return state

    def claim_reader(self) -> None:
        """Called in the process that reads this channel: its own sends then skip the pipe."""
        if self._local is None:
            self._local = collections.deque()

    def send(self, msg: Any) -> None:
        if self._local is not None:
            self._local.append(msg)
            return
        with self._lock:
            self._writer.send(msg)

    def recv(self, timeout: float = 0.0) -> Any | None:
        if self._local:
            return self._local.popleft()
        if self._reader.poll(timeout):
            return self._reader.recv()
        return None

    def recv_all(self, timeout: float = 0.0, max_msgs: int = 1_000_000) -> list[Any]:
        out: list[Any] = []
        if self._local:
            while self._local and len(out) < max_msgs:
                out.append(self._local.popleft())
            timeout = 0.0
        if len(out) >= max_msgs or not self._reader.poll(timeout):
            return out
        while len(out) < max_msgs:
            out.append(self._reader.recv())
            if not self._reader.poll(0):
                break
        return out

    def __len__(self) -> int:
        """Messages waiting in the in-process queue (the pipe's are not counted)."""
        return len(self._local) if self._local else 0

    @property
    def reader(self) -> Any:
        """The receiving end, for `multiprocessing.connection.wait`."""
        return self._reader
