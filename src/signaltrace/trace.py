"""The data model of a capture: a Trace of SignalEvents, each with its ReceiverCalls.

The recorder fills these objects; every consumer (middleware, panel, command,
pytest plugin) only reads them. Nothing here imports the recorder.

Receivers and senders are held through weak references where Python allows
it, so that a capture never keeps alive what Django would have let go.
"""

from __future__ import annotations

import functools
import linecache
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import CodeType, MethodType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from signaltrace import insights, naming
from signaltrace.assertions import EventList, Sends, TraceAssertions
from signaltrace.conf import Config
from signaltrace.records import (
    CALL_CHILDREN,
    CALL_DURATION,
    CALL_EXCEPTION,
    CALL_IS_ASYNC,
    CALL_NAME,
    CALL_QUERIES,
    CALL_REF,
    CALL_RESPONSE,
    CALL_SEND,
    CALL_STARTED_AT,
    CALL_VIEW,
    SEND_CALLS,
    SEND_DURATION,
    SEND_EXCEPTION,
    SEND_KWARGS,
    SEND_METHOD,
    SEND_PARENT,
    SEND_SENDER_NAME,
    SEND_SENDER_REF,
    SEND_SIGNAL,
    SEND_STACK,
    SEND_START,
    SEND_STARTED_AT,
    SEND_VIEW,
    SEND_WHERE,
    CallRecord,
    SendRecord,
)
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
    "call_view",
    "send_view",
    "sender_reference",
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


def sender_reference(sender: object) -> tuple[Any, str | None]:
    """Return how a :class:`SignalEvent` holds *sender*: a reference and a name.

    The reference is a callable giving back the sender, weak where possible. A
    sender held weakly may be gone when its name is wanted, so it is named now;
    classes (model classes above all) come from a cache, reference and name.
    Others (None, strings, numbers) are held as they are and named on demand
    (the name is None).
    """
    if issubclass(type(sender), type):  # not isinstance(): it may evaluate lazy objects
        entry = naming.class_sender_entry(cast(type, sender))
        if entry is not None:
            return entry
    ref = _weak_or_strong(sender)
    if ref is None or type(ref) is _Strong:
        return ref, None
    return ref, naming.sender_name(sender)


@functools.lru_cache(maxsize=4096)
def _line_number(code: CodeType, instruction: int) -> int:
    """The line of *code* that the instruction at byte offset *instruction* is on.

    What ``frame.f_lineno`` answers, worked out when a location is read rather
    than at every send: ``f_lineno`` scans the code's line table each time.
    """
    line = code.co_firstlineno
    for start, end, number in code.co_lines():
        if start <= instruction < end:
            return number if number is not None else line
        if number is not None:
            line = number
    return line


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
    """One call of one receiver during a send (a view of the recorder's record).

    Built when first read; a call still running shows as it is so far.
    """

    __slots__ = ("_record",)

    def __init__(self, record: CallRecord) -> None:
        self._record = record

    @property
    def name(self) -> str:
        """The receiver's dotted path (see :func:`signaltrace.naming.receiver_name`)."""
        return self._record[CALL_NAME]  # type: ignore[no-any-return]

    @property
    def event(self) -> SignalEvent:
        """The :class:`SignalEvent` this call belongs to."""
        return send_view(self._record[CALL_SEND])

    @property
    def is_async(self) -> bool:
        """Whether the receiver is a coroutine function."""
        return self._record[CALL_IS_ASYNC]  # type: ignore[no-any-return]

    @property
    def started_at(self) -> float:
        """``time.perf_counter()`` when the call began."""
        return self._record[CALL_STARTED_AT]  # type: ignore[no-any-return]

    @property
    def duration(self) -> float:
        """Seconds the call took.

        For async receivers, from the first step of the coroutine to its end,
        so concurrent receivers overlap.
        """
        return self._record[CALL_DURATION]  # type: ignore[no-any-return]

    @property
    def response(self) -> Any:
        """What the receiver returned.

        None while it runs, when it raised, or when a later receiver's error
        ended the send (Django returns no responses then).
        """
        return self._record[CALL_RESPONSE]

    @property
    def exception(self) -> BaseException | None:
        """What the receiver raised, or None; errors ``send_robust`` caught too."""
        return self._record[CALL_EXCEPTION]  # type: ignore[no-any-return]

    @property
    def children(self) -> list[SignalEvent]:
        """Events sent from inside this call, in start order."""
        children = self._record[CALL_CHILDREN]
        return [send_view(child) for child in children] if children else []

    @property
    def query_stats(self) -> QueryStats | None:
        """The queries the call ran itself (not those of nested receivers), if any.

        See :mod:`signaltrace.queries`.
        """
        return self._record[CALL_QUERIES]  # type: ignore[no-any-return]

    @property
    def queries(self) -> int:
        """How many database queries the call ran itself, on every connection."""
        stats = self.query_stats
        return stats.count if stats is not None else 0

    @property
    def query_time(self) -> float:
        """Seconds those queries took."""
        stats = self.query_stats
        return stats.time if stats is not None else 0.0

    @property
    def receiver(self) -> Any:
        """The receiver object, or None once Python has collected it."""
        ref = self._record[CALL_REF]
        return ref() if ref is not None else None

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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReceiverCall) and other._record is self._record

    def __hash__(self) -> int:
        return id(self._record)

    def __repr__(self) -> str:
        state = f"raised {type(self.exception).__name__}" if self.failed else "ok"
        return f"<ReceiverCall {self.name} {self.duration * 1000:.3f} ms {state}>"

    def to_dict(self, config: Config) -> dict[str, Any]:
        """Return the JSON-safe form used by :meth:`Trace.to_dict`."""
        source = self.source
        exception = self.exception
        return {
            "name": self.name,
            "duration_ms": round(self.duration * 1000, 4),
            "is_async": self.is_async,
            "response": None
            if exception is not None
            else safe_repr(self.response, config),
            "error": format_exception(exception, config)
            if exception is not None
            else None,
            "source": source.to_dict() if source else None,
            **_queries_dict(self.query_stats, config),
        }


def call_view(record: CallRecord) -> ReceiverCall:
    """The :class:`ReceiverCall` of a call record, built once and kept in it."""
    view = record[CALL_VIEW]
    if view is None:
        view = record[CALL_VIEW] = ReceiverCall(record)
    return view  # type: ignore[no-any-return]


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

    A read-only view of what the recorder wrote (see :mod:`signaltrace.records`),
    built when first read; a send still running shows as it is so far.
    """

    __slots__ = ("_name", "_record")

    def __init__(self, record: SendRecord) -> None:
        self._record = record
        self._name: str | None = None

    @property
    def signal(self) -> Signal:
        """The Signal object."""
        return self._record[SEND_SIGNAL]  # type: ignore[no-any-return]

    @property
    def name(self) -> str:
        """The signal's dotted import path.

        For example ``django.db.models.signals.post_save``; see
        :func:`signaltrace.naming.signal_name`.
        """
        if self._name is None:
            self._name = naming.signal_name(self.signal)
        return self._name

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments as passed to the send method."""
        return self._record[SEND_KWARGS]  # type: ignore[no-any-return]

    @property
    def method(self) -> Method:
        """``"send"``, ``"send_robust"``, ``"asend"`` or ``"asend_robust"``."""
        return self._record[SEND_METHOD]  # type: ignore[no-any-return]

    @property
    def receivers(self) -> list[ReceiverCall]:
        """One :class:`ReceiverCall` per receiver called, in call order."""
        return [call_view(call) for call in self._record[SEND_CALLS]]

    @property
    def started_at(self) -> float:
        """``time.perf_counter()`` when the send began."""
        return self._record[SEND_STARTED_AT]  # type: ignore[no-any-return]

    @property
    def start(self) -> float:
        """Seconds between the start of the outermost active capture and the send."""
        return self._record[SEND_START]  # type: ignore[no-any-return]

    @property
    def duration(self) -> float:
        """Seconds the whole send took."""
        return self._record[SEND_DURATION]  # type: ignore[no-any-return]

    @property
    def exception(self) -> BaseException | None:
        """The exception that propagated out of the send, if any."""
        return self._record[SEND_EXCEPTION]  # type: ignore[no-any-return]

    @property
    def stack(self) -> tuple[StackFrame, ...] | None:
        """The frames the send was made from, outermost first, without signaltrace's.

        None unless a trace recording it has ``CAPTURE_STACKS`` on.
        """
        return self._record[SEND_STACK]  # type: ignore[no-any-return]

    @property
    def parent_call(self) -> ReceiverCall | None:
        """The :class:`ReceiverCall` that made this send, or None."""
        parent = self._record[SEND_PARENT]
        return call_view(parent) if parent is not None else None

    @property
    def depth(self) -> int:
        """0 for a send made outside any receiver, its parent's depth + 1 inside."""
        depth = 0
        call = self._record[SEND_PARENT]
        while call is not None:
            depth += 1
            call = call[CALL_SEND][SEND_PARENT]
        return depth

    @property
    def sender_name(self) -> str:
        """A readable name for the sender, never running its code."""
        name = self._record[SEND_SENDER_NAME]
        if name is None:
            name = self._record[SEND_SENDER_NAME] = naming.sender_name(self.sender)
        return name  # type: ignore[no-any-return]

    @property
    def location(self) -> Location | None:
        """Where the send came from: the first frame outside Django and signaltrace."""
        where = self._record[SEND_WHERE]
        if where is None:
            return None
        code, instruction = where
        return Location(code.co_filename, _line_number(code, instruction), code.co_name)

    @property
    def sender(self) -> Any:
        """The sender, or None once Python has collected it."""
        ref = self._record[SEND_SENDER_REF]
        return ref() if ref is not None else None

    @property
    def parent(self) -> SignalEvent | None:
        """The event whose receiver sent this one, or None for a top-level send."""
        parent = self._record[SEND_PARENT]
        return send_view(parent[CALL_SEND]) if parent is not None else None

    @property
    def children(self) -> list[SignalEvent]:
        """Events sent from inside this event's receivers, receiver by receiver."""
        return [
            send_view(child)
            for call in self._record[SEND_CALLS]
            if call[CALL_CHILDREN]
            for child in call[CALL_CHILDREN]
        ]

    @property
    def errors(self) -> list[ReceiverCall]:
        """The receiver calls that raised."""
        return [call for call in self.receivers if call.exception is not None]

    def walk(self) -> Iterator[SignalEvent]:
        """Yield this event and then all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SignalEvent) and other._record is self._record

    def __hash__(self) -> int:
        return id(self._record)

    def __repr__(self) -> str:
        return (
            f"<SignalEvent {self.name} sender={self.sender_name} "
            f"method={self.method} receivers={len(self._record[SEND_CALLS])}>"
        )


def send_view(record: SendRecord) -> SignalEvent:
    """The :class:`SignalEvent` of a send record, built once and kept in it."""
    view = record[SEND_VIEW]
    if view is None:
        view = record[SEND_VIEW] = SignalEvent(record)
    return view  # type: ignore[no-any-return]


@dataclass(eq=False)
class Trace(TraceAssertions):
    """Everything recorded by one :func:`signaltrace.capture`.

    Attributes:
        config: the settings in force when the capture started.
        dropped: sends that were not stored because ``MAX_EVENTS`` was reached.
        started_at: ``time.perf_counter()`` at the start of the capture.
        ended_at: ``time.perf_counter()`` at its end, or None while it runs.
        wall_started: ``time.time()`` at the start, for display.
    """

    config: Config
    dropped: int = 0
    started_at: float = field(default_factory=time.perf_counter)
    ended_at: float | None = None
    wall_started: float = field(default_factory=time.time)
    # (id(signal), id(sender)) -> [signal name, sender name, count]. Keyed by ids so
    # that counting a hot send stays cheap and holds no reference to the sender.
    _counts: dict[tuple[int, int], list[Any]] = field(default_factory=dict, repr=False)
    # The findings, once computed on an ended trace (which no longer changes).
    _cached_findings: list[Finding] | None = field(default=None, repr=False)
    # What the recorder wrote: one record per recorded send, in start order.
    _records: list[SendRecord] = field(default_factory=list, repr=False)

    @property
    def events(self) -> list[SignalEvent]:
        """Every recorded send, in start order (nested sends included)."""
        return [send_view(record) for record in self._records]

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
        recorded = {id(record) for record in self._records}
        return [
            send_view(record)
            for record in self._records
            if record[SEND_PARENT] is None
            or id(record[SEND_PARENT][CALL_SEND]) not in recorded
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
        return len(self._records)

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
