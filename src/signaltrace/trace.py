"""The data model of a capture: a Trace of SignalEvents, each with its ReceiverCalls.

The recorder fills these objects; every consumer (middleware, panel, command,
pytest plugin) only reads them. Nothing here imports the recorder.

Receivers and senders are held through weak references where Python allows
it, so that a capture never keeps alive what Django would have let go.
"""

from __future__ import annotations

import linecache
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import MethodType
from typing import TYPE_CHECKING, Any, NamedTuple

from signaltrace import insights, naming
from signaltrace.assertions import EventList, Sends, TraceAssertions
from signaltrace.conf import Config
from signaltrace.values import format_exception, safe_kwargs, safe_repr, truncate

if TYPE_CHECKING:
    from django.dispatch import Signal

    from signaltrace.insights import Finding
    from signaltrace.queries import QueryStats

__all__ = [
    "Location",
    "ReceiverCall",
    "SignalEvent",
    "StackFrame",
    "Trace",
    "summarize",
]

#: A Django send method's name: "send", "send_robust", "asend" or "asend_robust".
Method = str


def _weak_or_strong(obj: object) -> Any:
    """Return a callable giving back *obj*: a weak reference when possible.

    Bound methods need a WeakMethod: a plain weak reference to one dies at once.
    """
    if obj is None:
        return None
    try:
        if type(obj) is MethodType:
            return weakref.WeakMethod(obj)
        return weakref.ref(obj)
    except TypeError:
        return _Strong(obj)


class _Strong:
    """Mimics a weak reference for objects that cannot be weakly referenced.

    Such objects (None, strings, numbers, builtins) never have a lifetime that a
    capture could extend in a way Django relies on.
    """

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __call__(self) -> object:
        return self.obj


@dataclass(frozen=True)
class Location:
    """Where a send came from: the first frame outside Django and signaltrace."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} in {self.function}"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-safe form used by :meth:`Trace.to_dict`."""
        return {"file": self.filename, "line": self.lineno, "function": self.function}


class StackFrame(NamedTuple):
    """One frame of the stack a send came from (recorded with ``CAPTURE_STACKS``).

    ``module`` is the frame's ``__name__``, so that a consumer can hide frames
    by module, as django-debug-toolbar's ``HIDE_IN_STACKTRACES`` does.
    """

    filename: str
    lineno: int
    function: str
    module: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-safe form used by :meth:`Trace.to_dict`, with its code."""
        return {
            "file": self.filename,
            "line": self.lineno,
            "function": self.function,
            "module": self.module,
            "code": linecache.getline(self.filename, self.lineno).strip(),
        }


class ReceiverCall:
    """One call of one receiver during a send.

    Attributes:
        name: the receiver's dotted path (see :func:`signaltrace.naming.receiver_name`).
        event: the :class:`SignalEvent` this call belongs to.
        is_async: whether the receiver is a coroutine function.
        duration: seconds the call took (for async receivers, from the first step
            of the coroutine to its end, so concurrent receivers overlap).
        response: what the receiver returned (None while running or when it raised).
        exception: what it raised, or None. Errors that ``send_robust`` swallowed
            are recorded here too.
        children: events sent from inside this call, in start order.
        query_stats: the database queries the call ran itself (those of nested
            receivers belong to them), or None when it ran none; see
            :mod:`signaltrace.queries`.
    """

    __slots__ = (
        "_receiver_ref",
        "children",
        "duration",
        "event",
        "exception",
        "is_async",
        "name",
        "query_stats",
        "response",
    )

    def __init__(
        self, event: SignalEvent, name: str, receiver_ref: Any, is_async: bool
    ) -> None:
        self.event = event
        self.name = name
        self._receiver_ref = receiver_ref
        self.is_async = is_async
        self.duration = 0.0
        self.response: Any = None
        self.exception: BaseException | None = None
        self.children: list[SignalEvent] = []
        self.query_stats: QueryStats | None = None

    @property
    def queries(self) -> int:
        """How many database queries the call ran itself, on every connection."""
        return self.query_stats.count if self.query_stats is not None else 0

    @property
    def query_time(self) -> float:
        """Seconds those queries took."""
        return self.query_stats.time if self.query_stats is not None else 0.0

    @property
    def receiver(self) -> Any:
        """The receiver object, or None once Python has collected it."""
        return self._receiver_ref() if self._receiver_ref is not None else None

    @property
    def failed(self) -> bool:
        """Whether the receiver raised (even when ``send_robust`` caught it)."""
        return self.exception is not None

    @property
    def source(self) -> Location | None:
        """The file and line where the receiver is defined, when known."""
        receiver = self.receiver
        if receiver is None:
            return None
        found = naming.source_location(receiver)
        return Location(*found) if found else None

    def __repr__(self) -> str:
        state = f"raised {type(self.exception).__name__}" if self.failed else "ok"
        return f"<ReceiverCall {self.name} {self.duration * 1000:.3f} ms {state}>"

    def to_dict(self, config: Config) -> dict[str, Any]:
        """Return the JSON-safe form used by :meth:`Trace.to_dict`."""
        source = self.source
        return {
            "name": self.name,
            "duration_ms": round(self.duration * 1000, 4),
            "is_async": self.is_async,
            "response": None if self.failed else safe_repr(self.response, config),
            "error": format_exception(self.exception, config)
            if self.exception is not None
            else None,
            "source": source.to_dict() if source else None,
            **_queries_dict(self.query_stats, config),
        }


def _queries_dict(stats: QueryStats | None, config: Config) -> dict[str, Any]:
    """The query keys of a receiver call's ``to_dict()``.

    SQL comes normalized by :func:`signaltrace.queries.normalize_sql`, so it
    holds no parameter value, and truncated.
    """
    if stats is None:
        return {
            "queries": 0,
            "query_time_ms": 0.0,
            "queries_by_alias": {},
            "repeated_queries": [],
        }
    return {
        "queries": stats.count,
        "query_time_ms": round(stats.time * 1000, 4),
        "queries_by_alias": {
            alias: {"queries": count, "time_ms": round(seconds * 1000, 4)}
            for alias, (count, seconds) in stats.aliases.items()
        },
        "repeated_queries": [
            {"sql": truncate(sql, config.MAX_VALUE_LENGTH), "count": count}
            for sql, count in stats.repeated()
        ],
    }


class SignalEvent:
    """One call of ``Signal.send``, ``send_robust``, ``asend`` or ``asend_robust``.

    Attributes:
        signal: the Signal object.
        name: its dotted import path, e.g. ``django.db.models.signals.post_save``.
        kwargs: the keyword arguments as passed to the send method.
        method: ``"send"``, ``"send_robust"``, ``"asend"`` or ``"asend_robust"``.
        receivers: one :class:`ReceiverCall` per receiver actually called, in the
            order the calls started.
        started_at: ``time.perf_counter()`` when the send began.
        start: seconds between the start of the outermost active capture and the
            send.
        duration: seconds the whole send took.
        parent_call: the :class:`ReceiverCall` that made this send, or None.
        depth: 0 for a send made outside any receiver, parent's depth + 1 inside.
        exception: the exception that propagated out of the send, if any.
        stack: the frames the send was made from, outermost first, without
            signaltrace's own; None unless a trace recording it has
            ``CAPTURE_STACKS`` on.
    """

    __slots__ = (
        "_dispatched",
        "_sender_name",
        "_sender_ref",
        "_where",
        "depth",
        "duration",
        "exception",
        "kwargs",
        "method",
        "name",
        "parent_call",
        "receivers",
        "running",
        "signal",
        "stack",
        "start",
        "started_at",
    )

    def __init__(
        self,
        signal: Signal,
        name: str,
        sender: object,
        kwargs: dict[str, Any],
        method: Method,
        parent_call: ReceiverCall | None,
        started_at: float,
        start: float,
    ) -> None:
        self.signal = signal
        self.name = name
        self._sender_ref = ref = _weak_or_strong(sender)
        # A sender held weakly may be gone when the name is wanted: name it now.
        # Others (None, strings, numbers) are named on demand.
        self._sender_name = (
            naming.sender_name(sender)
            if ref is not None and type(ref) is not _Strong
            else None
        )
        self.kwargs = kwargs
        self.method = method
        self.parent_call = parent_call
        self.depth: int = parent_call.event.depth + 1 if parent_call is not None else 0
        self.receivers: list[ReceiverCall] = []
        self.started_at = started_at
        self.start = start
        self.duration = 0.0
        self._where: tuple[str, int, str] | None = None
        self.stack: tuple[StackFrame, ...] | None = None
        self.exception: BaseException | None = None
        #: The sync receiver call in progress (recorder bookkeeping).
        self.running: ReceiverCall | None = None
        self._dispatched = False

    @property
    def sender_name(self) -> str:
        """A readable name for the sender, never running its code."""
        if self._sender_name is None:
            self._sender_name = naming.sender_name(self.sender)
        return self._sender_name

    @property
    def location(self) -> Location | None:
        """Where the send came from: the first frame outside Django and signaltrace."""
        return Location(*self._where) if self._where is not None else None

    @property
    def sender(self) -> Any:
        """The sender, or None once Python has collected it."""
        return self._sender_ref() if self._sender_ref is not None else None

    @property
    def parent(self) -> SignalEvent | None:
        """The event whose receiver sent this one, or None for a top-level send."""
        return self.parent_call.event if self.parent_call is not None else None

    @property
    def children(self) -> list[SignalEvent]:
        """Events sent from inside this event's receivers, receiver by receiver."""
        return [child for call in self.receivers for child in call.children]

    @property
    def errors(self) -> list[ReceiverCall]:
        """The receiver calls that raised."""
        return [call for call in self.receivers if call.exception is not None]

    def walk(self) -> Iterator[SignalEvent]:
        """Yield this event and then all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def __repr__(self) -> str:
        return (
            f"<SignalEvent {self.name} sender={self.sender_name} "
            f"method={self.method} receivers={len(self.receivers)}>"
        )


@dataclass(eq=False)
class Trace(TraceAssertions):
    """Everything recorded by one :func:`signaltrace.capture`.

    Attributes:
        config: the settings in force when the capture started.
        events: every recorded send, in start order (nested sends included).
        dropped: sends that were not stored because ``MAX_EVENTS`` was reached.
        started_at: ``time.perf_counter()`` at the start of the capture.
        ended_at: ``time.perf_counter()`` at its end, or None while it runs.
        wall_started: ``time.time()`` at the start, for display.
    """

    config: Config
    events: list[SignalEvent] = field(default_factory=list)
    dropped: int = 0
    started_at: float = field(default_factory=time.perf_counter)
    ended_at: float | None = None
    wall_started: float = field(default_factory=time.time)
    # (id(signal), id(sender)) -> [signal name, sender name, count]. Keyed by ids so
    # that counting a hot send stays cheap and holds no reference to the sender.
    _counts: dict[tuple[int, int], list[Any]] = field(default_factory=dict, repr=False)
    # The findings, once computed on an ended trace (which no longer changes).
    _cached_findings: list[Finding] | None = field(default=None, repr=False)

    @property
    def counts(self) -> dict[tuple[str, str], int]:
        """Sends that reached no receiver and were only counted.

        Keyed by ``(signal name, sender name)``. Empty when the capture records
        such sends as full events (``record_unreceived=True``).
        """
        counts: dict[tuple[str, str], int] = {}
        for signal_name, sender_name, count in list(self._counts.values()):
            key = (signal_name, sender_name)
            counts[key] = counts.get(key, 0) + count
        return counts

    @property
    def findings(self) -> list[Finding]:
        """The pitfalls found in this trace (see :mod:`signaltrace.insights`).

        Computed when first read, and kept once the trace has ended.
        """
        if self._cached_findings is not None:
            return self._cached_findings
        found = insights.find(self.events, self.config)
        if self.ended_at is not None:
            self._cached_findings = found
        return found

    @property
    def roots(self) -> list[SignalEvent]:
        """The events not sent from inside another recorded event's receiver."""
        recorded = {id(event) for event in self.events}
        return [
            event
            for event in self.events
            if event.parent_call is None or id(event.parent_call.event) not in recorded
        ]

    @property
    def duration(self) -> float:
        """Seconds spent inside signal sends (top-level sends only, no double count)."""
        return sum(event.duration for event in self.roots)

    @property
    def elapsed(self) -> float:
        """Seconds between the start of the capture and its end (or now)."""
        end = self.ended_at if self.ended_at is not None else time.perf_counter()
        return end - self.started_at

    @property
    def receiver_calls(self) -> list[ReceiverCall]:
        """Every receiver call of every recorded event, in event order."""
        return [call for event in self.events for call in event.receivers]

    @property
    def errors(self) -> list[ReceiverCall]:
        """Every receiver call that raised, including errors send_robust caught."""
        return [call for call in self.receiver_calls if call.exception is not None]

    def __iter__(self) -> Iterator[SignalEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def filter(
        self, signal: object = None, sender: object = None, **kwargs: Any
    ) -> EventList:
        """Return the events matching all the given criteria, in start order.

        The result is a list that also has the ``assert_*`` methods of a trace.

        Arguments:
            signal: a Signal object or its dotted name (the last part alone,
                e.g. ``"post_save"``, also matches).
            sender: the sender object or its dotted name.
            kwargs: keyword arguments the send must have had, compared with ``==``.
        """
        matching = [
            event
            for event in self.events
            if (signal is None or naming.signal_matches(event, signal))
            and (sender is None or naming.sender_matches(event, sender))
            and all(
                key in event.kwargs and event.kwargs[key] == value
                for key, value in kwargs.items()
            )
        ]
        return EventList(matching, self.config)

    def _sends(self) -> Sends:
        """What the ``assert_*`` methods check (see :mod:`signaltrace.assertions`)."""
        return Sends(
            self.events, self.config, self.counts, self.dropped, "Sends that happened"
        )

    def _findings(self) -> list[Finding]:
        """What ``assert_no_findings`` checks: :attr:`findings`."""
        return self.findings

    def offset(self, event: SignalEvent) -> float:
        """Seconds between the start of this capture and the start of *event*."""
        return event.started_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """Return the trace as JSON-safe data: redacted, truncated, stable keys.

        Events refer to their parent by index in ``events``; the keys are
        documented in the docs' "Trace format" page.
        """
        config = self.config
        index = {id(event): position for position, event in enumerate(self.events)}
        events = []
        for position, event in enumerate(self.events):
            parent = event.parent
            parent_id = index.get(id(parent)) if parent is not None else None
            events.append(
                {
                    "id": position,
                    "parent": parent_id,
                    # Which of the parent's receivers sent it, by index in its
                    # "receivers": a tree nests it under that receiver.
                    "parent_receiver": parent.receivers.index(event.parent_call)
                    if parent is not None
                    and parent_id is not None
                    and event.parent_call is not None
                    else None,
                    "signal": event.name,
                    "sender": event.sender_name,
                    "method": event.method,
                    "kwargs": safe_kwargs(event.kwargs, config),
                    "start_ms": round(self.offset(event) * 1000, 4),
                    "duration_ms": round(event.duration * 1000, 4),
                    "depth": event.depth,
                    "location": event.location.to_dict() if event.location else None,
                    "stack": [frame.to_dict() for frame in event.stack]
                    if event.stack is not None
                    else None,
                    "receivers": [call.to_dict(config) for call in event.receivers],
                    "error": format_exception(event.exception, config)
                    if event.exception is not None
                    else None,
                }
            )
        return {
            "started_at": self.wall_started,
            "duration_ms": round(self.duration * 1000, 4),
            "elapsed_ms": round(self.elapsed * 1000, 4),
            "events": events,
            "counts": [
                {"signal": signal_name, "sender": sender_name, "count": count}
                for (signal_name, sender_name), count in sorted(self.counts.items())
            ],
            "dropped": self.dropped,
            "findings": [finding.to_dict() for finding in self.findings],
        }


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    """The totals every view of a :meth:`Trace.to_dict` trace shows.

    ``sends`` (stored events), ``receivers`` (receiver calls), ``errors``
    (calls that raised), ``signal_ms`` and ``elapsed_ms``.
    """
    calls = [call for event in data["events"] for call in event["receivers"]]
    return {
        "sends": len(data["events"]),
        "receivers": len(calls),
        "errors": sum(1 for call in calls if call["error"]),
        "signal_ms": data["duration_ms"],
        "elapsed_ms": data["elapsed_ms"],
    }
