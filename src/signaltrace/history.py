"""The last finished traces, kept in process for the viewer and the logs.

An entry keeps the trace as it is: a trace holds descriptions only (see
:mod:`signaltrace.values`), never live objects, so keeping one holds no model
instance, request or receiver alive, and nothing is serialised until a page
asks for it. The store is bounded twice: by count (``HISTORY_SIZE``) and by
an estimate of the memory its traces take (``HISTORY_MAX_BYTES``); the
oldest entries go first.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from typing import Any

from signaltrace.assertions import SignalTrace
from signaltrace.conf import DEFAULTS

__all__ = ["HistoryEntry", "TraceHistory", "estimate_size", "history"]


class HistoryEntry:
    """One finished request and its trace.

    Attributes:
        id: the trace's id (``X-Signaltrace-Id``), 32 hex digits.
        method, path: the request's.
        status: the response's status, or None when it never passed the
            middleware.
        trace: the request's trace.
        size: an estimate of the bytes the trace takes (:func:`estimate_size`).
    """

    __slots__ = ("id", "method", "path", "size", "status", "trace")

    def __init__(
        self,
        trace: SignalTrace,
        *,
        trace_id: str,
        method: str,
        path: str,
        status: int | None,
    ) -> None:
        self.id = trace_id
        self.method = method
        self.path = path
        self.status = status
        self.trace = trace
        self.size = estimate_size(trace)

    @property
    def started_at(self) -> float:
        """When the request started, as a Unix timestamp."""
        return self.trace.wall_started

    @property
    def duration_ms(self) -> float:
        """Milliseconds from ``request_started`` to ``request_finished``."""
        return round(self.trace.elapsed * 1000, 4)

    @property
    def signal_ms(self) -> float:
        """Milliseconds spent inside top-level sends."""
        return round(self.trace.duration * 1000, 4)

    @property
    def sends(self) -> int:
        """How many sends were recorded."""
        return len(self.trace.events)

    @property
    def receiver_calls(self) -> int:
        """How many receiver calls they made."""
        return sum(len(event.receivers) for event in self.trace.events)

    @property
    def errors(self) -> int:
        """How many receiver calls raised."""
        return len(self.trace.errors)

    @property
    def dropped(self) -> int:
        """How many sends were not stored: ``MAX_EVENTS`` was reached."""
        return self.trace.dropped

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-safe data, its trace as ``Trace.to_dict()`` has it."""
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "signal_ms": self.signal_ms,
            "sends": self.sends,
            "receiver_calls": self.receiver_calls,
            "errors": self.errors,
            "dropped": self.dropped,
            "trace": self.trace.to_dict(),
        }


def estimate_size(trace: SignalTrace) -> int:
    """About how many bytes *trace* takes, for the history's memory bound.

    Counted generously: the objects of each send and receiver call, the
    text of every description, the frames of recorded stacks. Objects shared
    with the rest of the process (signals, code objects, names of receivers
    and classes) are not counted. One pass, run when a request finishes.
    """
    getsizeof = sys.getsizeof
    size = 2_000 + 200 * len(trace._counts)
    for event in trace.events:
        kwargs = event.kwargs
        size += 650 + 120 * len(kwargs) + getsizeof(event.sender_name)
        for value in kwargs.values():
            if type(value) is str:
                size += getsizeof(value)
        if event._stack is not None:
            size += 64 + 8 * len(event._stack)
        for call in event.receivers:
            size += 350
            if type(call.response) is str:
                size += getsizeof(call.response)
            if call.query_stats is not None:
                size += 600 + sum(len(sql) + 100 for sql in call.query_stats.sql)
    return size


class TraceHistory:
    """A bounded, thread-safe store of the most recent entries.

    Requests finish on many threads (WSGI) or in many tasks (ASGI); a lock
    makes each operation atomic. Once *size* entries are kept, or their
    traces take more than *max_bytes*, the oldest go.
    """

    def __init__(
        self,
        size: int = DEFAULTS.HISTORY_SIZE,
        max_bytes: int = DEFAULTS.HISTORY_MAX_BYTES,
    ) -> None:
        self._lock = threading.Lock()
        self._entries: deque[HistoryEntry] = deque(maxlen=size)
        self.max_bytes = max_bytes
        self._bytes = 0

    @property
    def size(self) -> int:
        """How many entries are kept at most."""
        maxlen = self._entries.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def bytes(self) -> int:
        """The estimated size of the kept traces, in bytes."""
        return self._bytes

    def add(
        self,
        entry: HistoryEntry,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        """Keep *entry* as the newest, dropping the oldest beyond the bounds.

        A *size* or *max_bytes* different from the current bounds (the
        settings changed) applies from now on. An entry larger than the
        memory bound on its own is not kept.
        """
        with self._lock:
            if max_bytes is not None:
                self.max_bytes = max_bytes
            if size is not None and size != self._entries.maxlen:
                self._entries = deque(self._entries, maxlen=size)
                self._bytes = sum(kept.size for kept in self._entries)
            if entry.size > self.max_bytes or not self._entries.maxlen:
                return
            if len(self._entries) == self._entries.maxlen:
                self._bytes -= self._entries[0].size
            self._entries.append(entry)
            self._bytes += entry.size
            while self._bytes > self.max_bytes:
                self._bytes -= self._entries.popleft().size

    def get(self, entry_id: str) -> HistoryEntry | None:
        """The entry with this id, or None when unknown or dropped."""
        with self._lock:
            for entry in self._entries:
                if entry.id == entry_id:
                    return entry
        return None

    def entries(self) -> list[HistoryEntry]:
        """The kept entries, newest first."""
        with self._lock:
            return list(reversed(self._entries))

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


#: The process's history, filled by the middleware.
history = TraceHistory()
