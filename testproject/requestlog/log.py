"""The recent requests, kept in memory: what the request log page shows.

A request's record is created by ``request_started`` (before any middleware
runs), completed by the middleware (IP address, status), and stored by
``request_finished`` (after the response was sent), so the time measured is
the whole request as the server saw it. The record of the running request is
held in a context variable: threads and asyncio tasks each have their own.
"""

from __future__ import annotations

import threading
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from time import perf_counter

from django.utils import timezone

#: How many finished requests are kept.
MAX_RECORDS = 50


@dataclass
class RequestRecord:
    """One request, as the request log page shows it."""

    method: str
    path: str
    started_at: datetime = field(default_factory=timezone.now)
    ip_address: str | None = None
    status: int | None = None
    #: Seconds from request_started to request_finished; None until finished.
    duration: float | None = None
    #: The exception the view raised, as ``"Type: message"``, or "".
    error: str = ""
    _started: float = field(default_factory=perf_counter, repr=False)

    @property
    def duration_ms(self) -> float | None:
        """The duration in milliseconds, for display."""
        return None if self.duration is None else self.duration * 1000


_current: ContextVar[RequestRecord | None] = ContextVar(
    "requestlog_current", default=None
)
_finished: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
_lock = threading.Lock()


def start(method: str, path: str) -> RequestRecord:
    """Begin the record of the request now starting in this context."""
    record = RequestRecord(method=method, path=path)
    _current.set(record)
    return record


def current() -> RequestRecord | None:
    """The record of the request running in this context, if any."""
    return _current.get()


def finish() -> RequestRecord | None:
    """Time and store the running request's record; None if none was started."""
    record = _current.get()
    if record is None:
        return None
    _current.set(None)
    record.duration = perf_counter() - record._started
    with _lock:
        _finished.append(record)
    return record


def recent() -> list[RequestRecord]:
    """The finished requests, newest first."""
    with _lock:
        return list(reversed(_finished))
