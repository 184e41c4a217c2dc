"""The data model: a Trace of SignalEvents, each with its ReceiverCalls.

The recorder (:mod:`signaltrace.dispatch`) fills these records while signals
are sent; every consumer (insights, assertions, snapshots, renderers, the
history, the panel) reads them. This module imports none of them.

A record holds *descriptions* (see :mod:`signaltrace.values`): the sender and
the keyword arguments are described when the signal is sent, a receiver's
response and exception when it returns, and never looked at again. So a
trace shows each value as it was at the send, and holds nothing of the
traced program alive. A capture made with ``keep_values=True`` also keeps the
live values (``SignalEvent.sender``, ``live_kwargs``, ``ReceiverCall.exception``,
``live_response``, ``receiver``), for tests that compare real objects.
"""

from __future__ import annotations

import functools
import linecache
import time
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import CodeType
from typing import TYPE_CHECKING, Any, NamedTuple
from unittest.mock import ANY

from signaltrace import naming
from signaltrace.conf import Config
from signaltrace.values import Describer, ErrorInfo, Value, describer

if TYPE_CHECKING:
    from django.dispatch import Signal

    from signaltrace.sql import QueryStats

__all__ = [
    "ANY",
    "Finding",
    "Location",
    "ReceiverCall",
    "SignalEvent",
    "StackFrame",
    "Trace",
    "events_to_dicts",
    "summarize",
]

#: A Django send method's name: "send", "send_robust", "asend" or "asend_robust".
Method = str
#: Where a send came from, as recorded: the frame's code and last instruction.
#: The line is worked out from them when it is read (see _line_number()).
Where = tuple[CodeType, int]
#: A recorded stack frame: code, last instruction, module name.
RawFrame = tuple[CodeType, int, str]


class Location(NamedTuple):
    """A place in the source: where a send came from, or a receiver is defined."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} in {self.function}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"file", "line", "function"}``."""
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
        """The JSON form, with the source line as ``code``."""
        return {
            "file": self.filename,
            "line": self.lineno,
            "function": self.function,
            "module": self.module,
            "code": linecache.getline(self.filename, self.lineno).strip(),
        }


class Finding(NamedTuple):
    """One pitfall found in a trace (see :mod:`signaltrace.insights`)."""

    #: What kind of pitfall, one of ``signaltrace.insights.CODES``.
    code: str
    #: One line saying what happened and what to do about it.
    message: str
    #: The position of the send concerned in the trace's events (in
    #: ``to_dict()["events"]`` it is the event's ``id``), or None for a
    #: finding about the trace as a whole.
    event: int | None
    #: The position of the receiver call concerned in that send's receivers,
    #: or None when the finding is about the send itself.
    receiver: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form listed in ``Trace.to_dict()["findings"]``."""
        return {
            "code": self.code,
            "message": self.message,
            "event": self.event,
            "receiver": self.receiver,
        }


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


class ReceiverCall:
    """One call of one receiver during a send.

    Filled by the recorder as the call runs; a call still running shows as
    it is so far (its duration is final once it has returned). The fields
    every call has are slots, set when it is made; the rarely set ones are
    read from the class until the recorder sets them (in the instance's
    ``__dict__``, made then): a call is made at every receiver call.
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "duration",
        "event",
        "info",
        "is_async",
        "response",
        "started_at",
    )

    #: What it raised, described; errors ``send_robust`` caught too.
    error: ErrorInfo | None = None
    #: The queries the call ran itself (not those of nested receivers), if
    #: any (see :mod:`signaltrace.queries`).
    query_stats: QueryStats | None = None
    #: With ``keep_values``: what it raised, and what it returned, as objects.
    exception: BaseException | None = None
    live_response: Any = None
    _receiver: Callable[[], Any] | None = None
    _children: list[SignalEvent] | None = None

    def __init__(
        self,
        event: SignalEvent,
        info: naming.ReceiverInfo,
        is_async: bool,
    ) -> None:
        #: The :class:`SignalEvent` this call belongs to.
        self.event = event
        #: The receiver's name and source, shared by all its calls.
        self.info = info
        #: Whether the receiver is a coroutine function.
        self.is_async = is_async
        #: ``time.perf_counter()`` when the call began.
        self.started_at = 0.0
        #: Seconds the receiver ran, without the time signaltrace spent
        #: recording the sends it made. For async receivers, from the first
        #: step of the coroutine to its end, so concurrent receivers overlap.
        self.duration = 0.0
        #: The description of what the receiver returned (see
        #: :mod:`signaltrace.values`); None also while it runs, when it
        #: raised, or when a later receiver's error ended the send.
        self.response: Value = None

    @property
    def name(self) -> str:
        """The receiver's dotted path (see :func:`signaltrace.naming.callable_name`)."""
        return self.info.name

    @property
    def source(self) -> Location | None:
        """Where the receiver is defined, when known."""
        source = self.info.source
        return Location(*source) if source is not None else None

    @property
    def children(self) -> list[SignalEvent]:
        """The sends made from inside this call, in start order."""
        children = self._children
        return list(children) if children is not None else []

    @property
    def receiver(self) -> Any:
        """With ``keep_values``: the receiver, until Python collects it; else None."""
        ref = self._receiver
        return ref() if ref is not None else None

    @property
    def failed(self) -> bool:
        """Whether the receiver raised (even when ``send_robust`` caught it)."""
        return self.error is not None

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

    def __repr__(self) -> str:
        state = f"raised {self.error.name}" if self.error is not None else "ok"
        return f"<ReceiverCall {self.name} {self.duration * 1000:.3f} ms {state}>"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, one entry of an event's ``receivers``."""
        error = self.error
        stats = self.query_stats
        source = self.source
        return {
            "name": self.info.name,
            "duration_ms": round(self.duration * 1000, 4),
            "is_async": self.is_async,
            "response": self.response if error is None else None,
            "error": str(error) if error is not None else None,
            "error_type": error.type if error is not None else None,
            "source": source.to_dict() if source is not None else None,
            **(stats.to_dict() if stats is not None else _NO_QUERIES),
        }


_NO_QUERIES: dict[str, Any] = {
    "queries": 0,
    "query_time_ms": 0.0,
    "queries_by_alias": {},
    "repeated_queries": [],
}


class SignalEvent:
    """One call of ``Signal.send``, ``send_robust``, ``asend`` or ``asend_robust``.

    Filled by the recorder as the send runs; a send still running shows as it
    is so far. The fields every send has are slots, set when it is made; the
    rarely set ones are read from the class until the recorder sets them (in
    the instance's ``__dict__``, made then): a send is made at every send.
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_origin",
        "_running",
        "_where",
        "duration",
        "kwargs",
        "method",
        "parent_call",
        "receivers",
        "sender_name",
        "signal",
        "started_at",
    )

    #: The exception that propagated out of the send, described.
    error: ErrorInfo | None = None
    #: With ``keep_values``: the exception that propagated, the keyword
    #: arguments as passed, and the sender (a callable giving it back).
    exception: BaseException | None = None
    live_kwargs: dict[str, Any] | None = None
    _sender: Callable[[], Any] | None = None
    #: The frames the send was made from, as recorded (``CAPTURE_STACKS``).
    _stack: tuple[RawFrame, ...] | None = None
    #: When the recorder began recording it, for a send made in a receiver.
    _entered: float = 0.0
    #: How Django's own method is being followed, while it runs.
    _dispatch: Any = None

    def __init__(
        self,
        signal: Signal,
        method: Method,
        sender_name: str,
        kwargs: dict[str, Value],
        where: Where | None,
        parent_call: ReceiverCall | None,
        origin: float = 0.0,
    ) -> None:
        #: The Signal object.
        self.signal = signal
        #: ``"send"``, ``"send_robust"``, ``"asend"`` or ``"asend_robust"``.
        self.method = method
        #: The sender, described: a class's dotted path, ``"None"``, or the
        #: safe text of any other object.
        self.sender_name = sender_name
        #: The keyword arguments, each described (masked by name, cut).
        self.kwargs = kwargs
        self._where = where
        #: The :class:`ReceiverCall` that made this send, or None.
        self.parent_call = parent_call
        #: One :class:`ReceiverCall` per receiver called, in call order.
        self.receivers: list[ReceiverCall] = []
        #: ``time.perf_counter()`` when its first receiver was called (when
        #: Django's method began, for the send methods it runs itself).
        self.started_at = 0.0
        #: Seconds its receivers ran, one after the other for ``send()`` to
        #: sync receivers, else from the start of Django's method to its end;
        #: without the time signaltrace spent recording (see the docs' "How
        #: it works").
        self.duration = 0.0
        #: When the outermost capture recording it started, for :attr:`start`.
        self._origin = origin
        #: The sync receiver call in progress, while the send runs.
        self._running: ReceiverCall | None = None

    @property
    def name(self) -> str:
        """The signal's dotted import path, e.g. ``django.db.models.signals.post_save``.

        See :func:`signaltrace.naming.signal_name`.
        """
        return naming.signal_name(self.signal)

    @property
    def start(self) -> float:
        """Seconds from the start of the outermost capture recording it to the send."""
        return self.started_at - self._origin

    @property
    def sender(self) -> Any:
        """With ``keep_values``: the sender, until Python collects it; else None."""
        ref = self._sender
        return ref() if ref is not None else None

    @property
    def location(self) -> Location | None:
        """Where the send came from: the first frame outside Django and signaltrace."""
        where = self._where
        if where is None:
            return None
        code, instruction = where
        return Location(code.co_filename, _line_number(code, instruction), code.co_name)

    @property
    def stack(self) -> tuple[StackFrame, ...] | None:
        """The frames the send was made from, outermost first, without signaltrace's.

        None unless a trace recording it has ``CAPTURE_STACKS`` on.
        """
        if self._stack is None:
            return None
        return tuple(_stack_frame(raw) for raw in self._stack)

    @property
    def parent(self) -> SignalEvent | None:
        """The event whose receiver sent this one, or None for a top-level send."""
        call = self.parent_call
        return call.event if call is not None else None

    @property
    def depth(self) -> int:
        """0 for a send made outside any receiver, its parent's depth + 1 inside."""
        depth = 0
        call = self.parent_call
        while call is not None:
            depth += 1
            call = call.event.parent_call
        return depth

    @property
    def children(self) -> list[SignalEvent]:
        """Events sent from inside this event's receivers, receiver by receiver."""
        return [
            child
            for call in self.receivers
            if call._children
            for child in call._children
        ]

    @property
    def errors(self) -> list[ReceiverCall]:
        """The receiver calls that raised."""
        return [call for call in self.receivers if call.error is not None]

    def walk(self) -> Iterator[SignalEvent]:
        """This event and then all its descendants, depth first."""
        stack = [self]
        while stack:
            event = stack.pop()
            yield event
            stack.extend(reversed(event.children))

    def matches(
        self,
        signal: object = None,
        sender: object = ANY,
        kwargs: Mapping[str, Any] | None = None,
        *,
        describer: Describer,
    ) -> bool:
        """Whether this send is of *signal*, from *sender*, with *kwargs*.

        The one matching rule of :meth:`Trace.filter`, the assertions and the
        command's filters; see the docs' "Matching" section. *describer*
        describes expected values when the live ones were not kept.
        """
        if signal is not None and not _signal_matches(self, signal):
            return False
        if sender is not ANY and not _sender_matches(self, sender, describer):
            return False
        for key, expected in (kwargs or {}).items():
            if key not in self.kwargs or not self.value_matches(
                key, expected, describer
            ):
                return False
        return True

    def value_matches(self, key: str, expected: object, describer: Describer) -> bool:
        """Whether keyword argument *key* matches *expected*.

        With live values: the same object, a predicate's true answer, or
        ``==``. With descriptions only: ``==`` with the description, or the
        same description; a predicate raises TypeError then.
        """
        live = self.live_kwargs
        if live is not None:
            actual = live[key]
            if actual is expected:
                return True
            if is_predicate(expected):
                return bool(expected(actual))  # type: ignore[operator]
            # expected on the left: ANY and other matchers' __eq__ decide.
            return bool(expected == actual)
        if is_predicate(expected):
            raise TypeError(
                f"{naming.callable_name(expected)} is a predicate, which needs the "
                "live values: record with capture(keep_values=True) (the "
                "signal_trace fixture and capture_signals() do)."
            )
        described = self.kwargs[key]
        return bool(expected == described) or describer.describe(expected) == described

    def __repr__(self) -> str:
        return (
            f"<SignalEvent {self.name} sender={self.sender_name} "
            f"method={self.method} receivers={len(self.receivers)}>"
        )


def is_predicate(value: object) -> bool:
    """Whether an expected value is a predicate to call rather than compare.

    Plain functions, lambdas, bound methods, builtins and ``functools.partial``
    are; classes and callable objects such as mocks are compared with ``==``.
    """
    # type() rather than isinstance(): a Mock(spec=function) claims to be one.
    return issubclass(
        type(value),
        types.FunctionType
        | types.BuiltinFunctionType
        | types.MethodType
        | functools.partial,
    )


def _signal_matches(event: SignalEvent, signal: object) -> bool:
    if isinstance(signal, str):
        return naming.name_matches(event.name, signal)
    return event.signal is signal


def _sender_matches(event: SignalEvent, sender: object, describer: Describer) -> bool:
    """A sender object, None (sent with ``sender=None``) or a (dotted) name."""
    if sender is None:
        return event.sender_name == "None"
    live = event._sender
    if isinstance(sender, str):
        actual = live() if live is not None else None
        if type(actual) is str:  # a string sender is itself, or as it is shown
            return actual == sender or event.sender_name == sender
        return naming.sender_name_matches(event.sender_name, sender)
    if live is not None:
        return live() is sender
    return event.sender_name == describer.sender(sender)


class Trace:
    """Everything recorded by one capture: a :func:`signaltrace.capture` block,
    one request, one management command, one test.

    Attributes:
        config: the settings in force when the capture started.
        keep_values: whether events keep the live values too (see the module
            documentation).
        events: every recorded send, in start order (nested sends included).
        dropped: sends that were not stored because ``MAX_EVENTS`` was reached.
        recording_errors: what went wrong in signaltrace itself while
            recording (the sends went on as Django's would), described.
        tasks: the background tasks enqueued while it recorded, as
            ``(task name, task id)``, so that a page can link to their traces
            (see :mod:`signaltrace.tasks`).
        started_at: ``time.perf_counter()`` at the start of the capture.
        ended_at: ``time.perf_counter()`` at its end, or None while it runs.
        responded_at: for a request, ``time.perf_counter()`` when its response
            was ready (the first of the middleware and the toolbar panel to
            see it), or None: the surfaces count the sends before it (see
            :mod:`signaltrace.shown`).
        wall_started: ``time.time()`` at the start, for display.
    """

    def __init__(self, config: Config, *, keep_values: bool = False) -> None:
        self.config = config
        self.keep_values = keep_values
        #: Describes this trace's values (settings read once, not per send).
        self.describer = describer(config)
        self.events: list[SignalEvent] = []
        #: How many events this trace stores: ``MAX_EVENTS``, less the room a
        #: request's trace keeps for its ``request_finished``.
        self.max_events = config.MAX_EVENTS
        self.dropped = 0
        self.recording_errors: list[str] = []
        self.tasks: list[tuple[str, str]] = []
        self.started_at = time.perf_counter()
        self.ended_at: float | None = None
        self.responded_at: float | None = None
        self.wall_started = time.time()
        # (id(signal), id(sender)) -> [signal, sender name, count]: counting a
        # hot send stays cheap and holds no reference to the sender.
        self._counts: dict[tuple[int, int], list[Any]] = {}

    @property
    def counts(self) -> dict[tuple[str, str], int]:
        """Sends that reached no receiver and were only counted.

        Keyed by ``(signal name, sender name)``. Empty when the capture records
        such sends as full events (``record_unreceived=True``).
        """
        counts: dict[tuple[str, str], int] = {}
        for signal, sender_name, count in list(self._counts.values()):
            key = (naming.signal_name(signal), sender_name)
            counts[key] = counts.get(key, 0) + count
        return counts

    @property
    def findings(self) -> list[Finding]:
        """The pitfalls found in this trace.

        None for a bare Trace; the traces signaltrace hands out
        (:class:`signaltrace.assertions.SignalTrace`) find them with
        :mod:`signaltrace.insights`.
        """
        return []

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
        return [call for call in self.receiver_calls if call.error is not None]

    def __iter__(self) -> Iterator[SignalEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def filter(
        self, signal: object = None, sender: object = ANY, **kwargs: Any
    ) -> list[SignalEvent]:
        """The events matching all the given criteria, in start order.

        Arguments:
            signal: a Signal object or its dotted name (the last part alone,
                e.g. ``"post_save"``, also matches); None for any signal.
            sender: the sender object or its dotted name; ``None`` for sends
                made with ``sender=None``; ``ANY`` (the default) for any.
            kwargs: keyword arguments the send must have had (see
                :meth:`SignalEvent.matches`).
        """
        return [
            event
            for event in self.events
            if event.matches(signal, sender, kwargs, describer=self.describer)
        ]

    def offset(self, event: SignalEvent) -> float:
        """Seconds between the start of this capture and the start of *event*."""
        return event.started_at - self.started_at

    def note_recording_error(self, text: str) -> None:
        """Note that signaltrace's own code failed while recording (at most 100).

        See :mod:`signaltrace.failures`.
        """
        if len(self.recording_errors) < 100:
            self.recording_errors.append(text)

    def to_dict(self) -> dict[str, Any]:
        """The trace as JSON-safe data: a walk over what was described at the sends.

        Events refer to their parent by index in ``events``; the keys are
        documented in the docs' "Trace format" page.
        """
        return {
            "started_at": self.wall_started,
            "duration_ms": round(self.duration * 1000, 4),
            "elapsed_ms": round(self.elapsed * 1000, 4),
            "response_ms": round((self.responded_at - self.started_at) * 1000, 4)
            if self.responded_at is not None
            else None,
            "events": events_to_dicts(self.events, self.started_at),
            "counts": [
                {"signal": signal, "sender": sender, "count": count}
                for (signal, sender), count in sorted(self.counts.items())
            ],
            "dropped": self.dropped,
            "recording_errors": list(self.recording_errors),
            "tasks": [{"name": name, "id": task_id} for name, task_id in self.tasks],
            "findings": [finding.to_dict() for finding in self.findings],
        }


def events_to_dicts(
    events: Sequence[SignalEvent], origin: float
) -> list[dict[str, Any]]:
    """The JSON form of *events* (see the docs' "Trace format").

    An event's ``parent`` is the position of its parent in *events*, or None
    when its parent is not among them; *origin* is the ``perf_counter()`` the
    ``start_ms`` offsets count from.
    """
    index = {id(event): position for position, event in enumerate(events)}
    # The frames stacks share (the server's, the middleware's), made once.
    frames: dict[tuple[int, int, str], dict[str, Any]] = {}
    dicts = []
    for position, event in enumerate(events):
        call = event.parent_call
        parent = index.get(id(call.event)) if call is not None else None
        error = event.error
        location = event.location
        stack = event._stack
        dicts.append(
            {
                "id": position,
                "parent": parent,
                # Which of the parent's receivers sent it, by index in its
                # "receivers": a tree nests it under that receiver.
                "parent_receiver": _index_of(call.event.receivers, call)
                if call is not None and parent is not None
                else None,
                "signal": event.name,
                "sender": event.sender_name,
                "method": event.method,
                "kwargs": dict(event.kwargs),
                "start_ms": round((event.started_at - origin) * 1000, 4),
                "duration_ms": round(event.duration * 1000, 4),
                "depth": event.depth,
                "location": location.to_dict() if location is not None else None,
                "stack": _stack_dicts(stack, frames) if stack is not None else None,
                "receivers": [call.to_dict() for call in event.receivers],
                "error": str(error) if error is not None else None,
                "error_type": error.type if error is not None else None,
            }
        )
    return dicts


def _stack_dicts(
    stack: tuple[RawFrame, ...], frames: dict[tuple[int, int, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The JSON form of a recorded stack; a frame already in *frames* is reused.

    Keyed by the code's identity (the stack holds its code objects alive, and
    hashing a code object hashes its bytecode) and the frame's module: one
    code may run under the globals of several modules.
    """
    dicts = []
    for raw in stack:
        code, instruction, module = raw
        key = (id(code), instruction, module)
        frame = frames.get(key)
        if frame is None:
            frame = frames[key] = _stack_frame(raw).to_dict()
        dicts.append(frame)
    return dicts


def _stack_frame(raw: RawFrame) -> StackFrame:
    """A recorded frame (code, last instruction, module) as it is read."""
    code, instruction, module = raw
    return StackFrame(
        code.co_filename, _line_number(code, instruction), code.co_name, module
    )


def _index_of(calls: list[ReceiverCall], call: ReceiverCall) -> int | None:
    for position, candidate in enumerate(calls):
        if candidate is call:
            return position
    return None


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    """The totals every view of a :meth:`Trace.to_dict` trace shows.

    ``sends`` (stored events), ``receiver_calls``, ``errors`` (calls that
    raised), ``signal_ms`` and ``elapsed_ms``.
    """
    calls = [call for event in data["events"] for call in event["receivers"]]
    return {
        "sends": len(data["events"]),
        "receiver_calls": len(calls),
        "errors": sum(1 for call in calls if call["error"]),
        "signal_ms": data["duration_ms"],
        "elapsed_ms": data["elapsed_ms"],
    }
