"""The last finished request traces, kept in process for the viewer and the panel.

Entries are plain JSON-safe dicts built from :meth:`Trace.to_dict` (already
redacted and truncated), never live objects: keeping one holds no model
instance, request or receiver alive, and a bounded deque keeps the memory a
long-running process spends on them bounded too.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, TypedDict

from signaltrace.conf import DEFAULTS
from signaltrace.trace import summarize

__all__ = ["HistoryEntry", "TraceHistory", "history", "make_entry"]


class HistoryEntry(TypedDict):
    """One finished request and its trace.

    ``started_at`` is a Unix timestamp; ``duration_ms`` runs from
    ``request_started`` to ``request_finished``; ``signal_ms`` is the time spent
    inside top-level sends; ``sends``, ``receivers`` and ``errors`` count the
    recorded sends, the receiver calls and the receiver calls that raised.
    ``status`` is None when the response never passed the middleware.
    """

    id: str
    method: str
    path: str
    status: int | None
    started_at: float
    duration_ms: float
    signal_ms: float
    sends: int
    receivers: int
    errors: int
    trace: dict[str, Any]


def make_entry(
    trace: dict[str, Any],
    *,
    trace_id: str,
    method: str,
    path: str,
    status: int | None,
) -> HistoryEntry:
    """Build the entry for a request from its ``to_dict()`` trace."""
    totals = summarize(trace)
    return {
        "id": trace_id,
        "method": method,
        "path": path,
        "status": status,
        "started_at": trace["started_at"],
        "duration_ms": totals["elapsed_ms"],
        "signal_ms": totals["signal_ms"],
        "sends": totals["sends"],
        "receivers": totals["receivers"],
        "errors": totals["errors"],
        "trace": trace,
    }


class TraceHistory:
    """A bounded, thread-safe store of the most recent entries.

    Requests finish on many threads (WSGI) or in many tasks (ASGI); a lock
    makes each operation atomic, and the deque drops the oldest entry once
    *size* are kept.
    """

    def __init__(self, size: int = DEFAULTS.HISTORY_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: deque[HistoryEntry] = deque(maxlen=size)

    @property
    def size(self) -> int:
        """How many entries are kept at most."""
        maxlen = self._entries.maxlen
        assert maxlen is not None
        return maxlen

    def add(self, entry: HistoryEntry, *, size: int | None = None) -> None:
        """Keep *entry* as the newest, dropping the oldest beyond the bound.

        A *size* different from the current bound (the ``HISTORY_SIZE``
        setting changed) resizes the store first, keeping the newest entries.
        """
        with self._lock:
            if size is not None and size != self._entries.maxlen:
                self._entries = deque(self._entries, maxlen=size)
            self._entries.append(entry)

    def get(self, entry_id: str) -> HistoryEntry | None:
        """Return the entry with this id, or None when unknown or dropped."""
        with self._lock:
            for entry in self._entries:
                if entry["id"] == entry_id:
                    return entry
        return None

    def entries(self) -> list[HistoryEntry]:
        """Return the kept entries, newest first."""
        with self._lock:
            return list(reversed(self._entries))

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


#: The process's history, filled by the middleware.
history = TraceHistory()
