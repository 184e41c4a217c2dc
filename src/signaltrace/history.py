"""The last finished traces, for the viewer and the logs: requests, commands, tasks.

An entry keeps the trace as it is: a trace holds descriptions only (see
:mod:`signaltrace.values`), never live objects, so keeping one holds no model
instance, request or receiver alive, and nothing is serialised until a page
asks for it.

Where entries are kept is the ``HISTORY_STORE`` setting (:func:`get_store`):
``"memory"``, this process's :data:`history` (bounded twice: by count,
``HISTORY_SIZE``, and by an estimate of the memory its traces take,
``HISTORY_MAX_BYTES``; the oldest go first), ``"database"``, a table that
web and worker processes share (:mod:`signaltrace.database_history`), or
the dotted path of a class with the methods of :class:`HistoryStore`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, Protocol

from django.utils.module_loading import import_string

from signaltrace.assertions import SignalTrace
from signaltrace.conf import DEFAULTS, get_config
from signaltrace.shown import Totals, shown

logger = logging.getLogger("signaltrace")

__all__ = [
    "KINDS",
    "HistoryEntry",
    "HistoryStore",
    "TraceHistory",
    "estimate_size",
    "get_store",
    "history",
    "keep",
    "report",
    "wanted",
]

#: What a trace is of: an HTTP request (the middleware), a management command
#: (``manage.py signaltrace``), a background task (``TRACE_TASKS``).
Kind = Literal["request", "command", "task"]
KINDS: tuple[Kind, ...] = ("request", "command", "task")


class HistoryEntry:
    """One finished request, command or task, and its trace.

    Attributes:
        id: the trace's id (``X-Signaltrace-Id`` for a request), 32 hex digits.
        kind: ``"request"``, ``"command"`` or ``"task"``.
        method, path: a request's (empty for the other kinds).
        status: a request's response status, or None when it never passed the
            middleware.
        name: a command's or a task's name (empty for a request).
        task_id: a task's id, by which the request that enqueued it links to
            this entry.
        outcome: how a task or command ended (``"SUCCESSFUL"``, ``"FAILED"``,
            a command's exit status), or None.
        redirected_from: the id of the entry whose redirect led to this
            request, if any (see :mod:`signaltrace.redirects`).
        trace: the trace, when it was recorded in this process; None for an
            entry read back from a shared store (:meth:`data` has it then).

    Its totals (``sends``, ``receiver_calls``, ``errors``, ``signal_ms``) are
    the viewer's and the panel's: for a request, the sends before the
    response, without the toolbar's own (see :mod:`signaltrace.shown`),
    worked out once, when first asked for.
    """

    __slots__ = (
        "_data",
        "_load",
        "_size",
        "_summary",
        "id",
        "kind",
        "method",
        "name",
        "outcome",
        "path",
        "redirected_from",
        "status",
        "task_id",
        "trace",
    )

    def __init__(
        self,
        trace: SignalTrace | None,
        *,
        trace_id: str,
        kind: Kind = "request",
        method: str = "",
        path: str = "",
        status: int | None = None,
        name: str = "",
        task_id: str | None = None,
        outcome: str | None = None,
        redirected_from: str | None = None,
        summary: dict[str, Any] | None = None,
        load: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.id = trace_id
        self.kind = kind
        self.method = method
        self.path = path
        self.status = status
        self.name = name
        self.task_id = task_id
        self.outcome = outcome
        self.redirected_from = redirected_from
        self.trace = trace
        self._size: int | None = None
        self._data: dict[str, Any] | None = None
        self._load = load
        #: The figures of :meth:`summary`, when given (read back from a store).
        self._summary = summary

    @property
    def size(self) -> int:
        """An estimate of the bytes the trace takes (:func:`estimate_size`), once."""
        if self._size is None:
            self._size = estimate_size(self.trace) if self.trace is not None else 0
        return self._size

    @classmethod
    def from_dict(
        cls,
        entry: dict[str, Any],
        *,
        load: Callable[[], dict[str, Any]] | None = None,
    ) -> HistoryEntry:
        """An entry read back from :meth:`to_dict` (its ``trace`` may be left out
        and given by *load*, called once, when the trace is needed)."""
        made = cls(
            None,
            trace_id=entry["id"],
            kind=entry.get("kind", "request"),
            method=entry.get("method", ""),
            path=entry.get("path", ""),
            status=entry.get("status"),
            name=entry.get("name", ""),
            task_id=entry.get("task_id"),
            outcome=entry.get("outcome"),
            redirected_from=entry.get("redirected_from"),
            summary={key: entry[key] for key in _SUMMARY},
            load=load,
        )
        made._data = entry.get("trace")
        return made

    def data(self) -> dict[str, Any]:
        """The trace as :meth:`Trace.to_dict` has it (worked out once)."""
        if self._data is None:
            if self.trace is not None:
                self._data = self.trace.to_dict()
            elif self._load is not None:
                self._data = self._load()
            else:
                raise LookupError(f"The trace of history entry {self.id} is gone.")
        return self._data

    def summary(self) -> dict[str, Any]:
        """The figures a list of entries shows, without reading the whole trace.

        ``started_at``, ``duration_ms``, ``sends``, ``receiver_calls``,
        ``errors``, ``signal_ms``, ``dropped`` and ``tasks`` (the tasks the
        trace enqueued, ``{"name", "id"}`` each).
        """
        if self._summary is None:
            data = self.data()
            totals: Totals = shown(data).before
            self._summary = {
                "started_at": data["started_at"],
                "duration_ms": data["elapsed_ms"],
                **totals._asdict(),
                "dropped": data["dropped"],
                "tasks": data.get("tasks", []),
            }
        return self._summary

    @property
    def started_at(self) -> float:
        """When the request, command or task started, as a Unix timestamp."""
        if self.trace is not None:
            return self.trace.wall_started
        return float(self.summary()["started_at"])

    @property
    def duration_ms(self) -> float:
        """Milliseconds from its start (``request_started``) to its end."""
        if self.trace is not None:
            return round(self.trace.elapsed * 1000, 4)
        return float(self.summary()["duration_ms"])

    @property
    def signal_ms(self) -> float:
        """Milliseconds spent inside top-level sends (before the response)."""
        return float(self.summary()["signal_ms"])

    @property
    def sends(self) -> int:
        """How many sends were recorded (before the response)."""
        return int(self.summary()["sends"])

    @property
    def receiver_calls(self) -> int:
        """How many receiver calls they made."""
        return int(self.summary()["receiver_calls"])

    @property
    def errors(self) -> int:
        """How many of those receiver calls raised."""
        return int(self.summary()["errors"])

    @property
    def dropped(self) -> int:
        """How many sends were not stored: ``MAX_EVENTS`` was reached."""
        if self.trace is not None:
            return self.trace.dropped
        return int(self.summary()["dropped"])

    @property
    def tasks(self) -> list[dict[str, str]]:
        """The background tasks it enqueued, ``{"name", "id"}`` each."""
        if self.trace is not None:
            return [{"name": name, "id": task_id} for name, task_id in self.trace.tasks]
        tasks: list[dict[str, str]] = self.summary()["tasks"]
        return tasks

    @property
    def label(self) -> str:
        """What the entry is of, in a few words: ``POST /signup/``, a task's name."""
        if self.kind == "request":
            return f"{self.method} {self.path}"
        return self.name

    def to_dict(self, *, with_trace: bool = True) -> dict[str, Any]:
        """The entry as JSON-safe data, its trace as ``Trace.to_dict()`` has it."""
        entry = {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "name": self.name,
            "task_id": self.task_id,
            "outcome": self.outcome,
            "redirected_from": self.redirected_from,
            **{key: getattr(self, key) for key in _SUMMARY},
        }
        if with_trace:
            entry["trace"] = self.data()
        return entry


#: The figures of an entry that a list shows (see HistoryEntry.summary()).
_SUMMARY = (
    "started_at",
    "duration_ms",
    "signal_ms",
    "sends",
    "receiver_calls",
    "errors",
    "dropped",
    "tasks",
)


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


class HistoryStore(Protocol):
    """What a history store does (``HISTORY_STORE``): the memory store's methods.

    ``blocking``: whether its methods do I/O, which must not run in an event
    loop (:func:`keep` hands them to a thread there).
    """

    blocking: bool

    def add(
        self,
        entry: HistoryEntry,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> None: ...

    def get(self, entry_id: str) -> HistoryEntry | None: ...

    def entries(self, kind: str | None = None) -> list[HistoryEntry]: ...

    def for_task(self, task_id: str) -> HistoryEntry | None: ...

    def redirected_from(self, entry_id: str) -> HistoryEntry | None: ...

    def clear(self) -> None: ...


class TraceHistory:
    """A bounded, thread-safe store of the most recent entries, in this process.

    Requests finish on many threads (WSGI) or in many tasks (ASGI); a lock
    makes each operation atomic. Once *size* entries are kept, or their
    traces take more than *max_bytes*, the oldest go.
    """

    blocking = False

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
        return self._first(lambda entry: entry.id == entry_id)

    def entries(self, kind: str | None = None) -> list[HistoryEntry]:
        """The kept entries (of one *kind*, if given), newest first."""
        with self._lock:
            return [
                entry
                for entry in reversed(self._entries)
                if kind is None or entry.kind == kind
            ]

    def for_task(self, task_id: str) -> HistoryEntry | None:
        """The newest trace of the task with this id, if kept."""
        return self._first(lambda entry: entry.task_id == task_id)

    def redirected_from(self, entry_id: str) -> HistoryEntry | None:
        """The request a redirect of the entry *entry_id* led to, if kept."""
        return self._first(lambda entry: entry.redirected_from == entry_id)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _first(self, wanted: Callable[[HistoryEntry], bool]) -> HistoryEntry | None:
        with self._lock:
            for entry in reversed(self._entries):
                if wanted(entry):
                    return entry
        return None

    def __len__(self) -> int:
        return len(self._entries)


#: This process's history: the ``"memory"`` store.
history = TraceHistory()

_stores: dict[str, HistoryStore] = {"memory": history}
_stores_lock = threading.Lock()


def get_store() -> HistoryStore:
    """The store ``HISTORY_STORE`` names, made once per process."""
    name = get_config().HISTORY_STORE
    store = _stores.get(name)
    if store is None:
        with _stores_lock:
            store = _stores.get(name)
            if store is None:
                path = (
                    "signaltrace.database_history.DatabaseHistory"
                    if name == "database"
                    else name
                )
                store = _stores[name] = import_string(path)()
    return store


def report(entry: HistoryEntry) -> None:
    """Hand a finished trace on: to the history and to the ``signaltrace`` log.

    The one way requests (the middleware), tasks and commands go: kept in the
    configured store unless ``HISTORY_SIZE`` is 0; logged as one ``INFO``
    record (``signal_trace``: the trace's ``to_dict()``, ``signal_trace_id``,
    and ``signal_task_id`` for a task) and, with ``DEBUG`` on, one record per
    send (``signal_event``), indented by nesting. With neither wanted, the
    trace is never converted.
    """
    config = entry.trace.config if entry.trace is not None else get_config()
    if config.HISTORY_SIZE:
        keep(entry)
    if logger.isEnabledFor(logging.INFO):
        _log(entry)


def wanted(trace: SignalTrace) -> bool:
    """Whether :func:`report` would do anything with a finished *trace*."""
    return bool(trace.config.HISTORY_SIZE) or logger.isEnabledFor(logging.INFO)


def _log(entry: HistoryEntry) -> None:
    data = entry.to_dict()
    if entry.kind == "request":
        about = f"{entry.method} {entry.path} {_or_dash(entry.status)}"
    else:
        about = f"{entry.kind} {entry.name} {_or_dash(entry.outcome)}"
    extra: dict[str, Any] = {"signal_trace": data["trace"], "signal_trace_id": entry.id}
    if entry.task_id is not None:
        extra["signal_task_id"] = entry.task_id
    dropped = data["dropped"]
    logger.info(
        "%s: sends=%d receiver_calls=%d errors=%d signal_ms=%.3f%s",
        about,
        data["sends"],
        data["receiver_calls"],
        data["errors"],
        data["signal_ms"],
        # MAX_EVENTS was reached: the counts are of the sends kept.
        f" dropped={dropped}" if dropped else "",
        extra=extra,
    )
    if not logger.isEnabledFor(logging.DEBUG):
        return
    for event in data["trace"]["events"]:
        logger.debug(
            "%s%s sender=%s method=%s receiver_calls=%d errors=%d duration_ms=%.3f",
            "  " * event["depth"],
            event["signal"],
            event["sender"],
            event["method"],
            len(event["receivers"]),
            sum(1 for call in event["receivers"] if call["error"]),
            event["duration_ms"],
            extra={"signal_event": event, "signal_trace_id": entry.id},
        )


def _or_dash(value: object) -> object:
    return "-" if value is None else value


def keep(entry: HistoryEntry) -> None:
    """Keep *entry* in the configured store, bounded by the settings.

    Runs where a request, task or command ends (inside ``response.close()``,
    a worker's signal): a store that does I/O is given the entry in a
    thread when an event loop runs here.
    """
    config = get_config()
    store = get_store()

    def add() -> None:
        store.add(entry, size=config.HISTORY_SIZE, max_bytes=config.HISTORY_MAX_BYTES)

    if store.blocking:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            loop.run_in_executor(None, _logged(add))
            return
    add()


def _logged(add: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            add()
        except Exception:
            logger.exception("signaltrace could not keep a trace in its history")

    return run
