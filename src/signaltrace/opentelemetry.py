"""OpenTelemetry export: each send made while a span is recording becomes a span.

With ``SIGNALTRACE = {"OPENTELEMETRY": True}`` the app's ``ready()`` calls
:func:`enable`: the recorder's wrappers go on ``Signal`` for good, each
wrapped once more by :func:`spanning` (see :func:`signaltrace.install.set_scope`).
For a send made outside any send this module records, that scope looks at
OpenTelemetry's current span:

- none, or one that is not recording (sampled out): the send goes straight to
  Django's method (or to the recorder, when a capture or a request's trace is
  recording in this context), and nothing is recorded for OpenTelemetry;
- a recording span: a short-lived :class:`~signaltrace.trace.Trace` records
  the send, alongside any other trace recording, and every send made inside
  its receivers (they find it in the context, as they find a capture). When
  the send has returned (or raised), the trace is taken out of the context
  and turned into spans (:func:`export`): one per send, child of the span
  that was current when the send began, and one per receiver call, child of
  its send; a send made inside a receiver is a child of that receiver's span.

Spans are made after the send, from the records, with the times the recorder
took (``perf_counter()`` readings, moved to the epoch by one offset per
send). So nothing runs while the receivers do, and a send made by one of
Django 6.1's concurrent async receivers nests under the right receiver: the
record already attributes it. The price: spans that other instrumentations
start inside a receiver (a query's, an HTTP call's) are children of the span
current at the send (the request's), not of the receiver's span, which does
not exist yet while the receiver runs.

What a span carries is described once, at the send, by the recorder:
keyword arguments only with ``OPENTELEMETRY_KWARGS``, as their masked
descriptions; an exception as its class and masked message, never a live
exception or traceback. Recording never fails the program: a failure here,
in the SDK or in an exporter is contained (:mod:`signaltrace.failures`).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import replace
from time import perf_counter, perf_counter_ns, time_ns
from typing import Any

from django.conf import settings
from django.dispatch import Signal
from django.dispatch.dispatcher import NO_RECEIVERS
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation import get_current_span, set_span_in_context

from signaltrace import install
from signaltrace.conf import Config, get_config
from signaltrace.context import traces
from signaltrace.failures import note
from signaltrace.trace import ReceiverCall, SignalEvent, Trace
from signaltrace.values import Describer, ErrorInfo, Value

__all__ = [
    "CODE_FILE_PATH",
    "CODE_FUNCTION_NAME",
    "CODE_LINE_NUMBER",
    "DROPPED_SENDS",
    "KWARGS_PREFIX",
    "QUERY_COUNT",
    "QUERY_DURATION_MS",
    "SIGNAL_METHOD",
    "SIGNAL_NAME",
    "SIGNAL_SENDER",
    "disable",
    "enable",
    "export",
    "is_enabled",
    "set_tracer_provider",
    "spanning",
]

# ------------------------------------------------------ attribute names

#: On a send's span: the signal's dotted path.
SIGNAL_NAME = "django.signal.name"
#: On a send's span: the sender, described.
SIGNAL_SENDER = "django.signal.sender"
#: On a send's span: ``send``, ``send_robust``, ``asend`` or ``asend_robust``.
SIGNAL_METHOD = "django.signal.method"
#: On a send's span, with ``OPENTELEMETRY_KWARGS``: each keyword argument's
#: description, under this prefix and the argument's name.
KWARGS_PREFIX = "django.signal.kwargs."
#: On a receiver call's span: the receiver's dotted path (OpenTelemetry's
#: semantic conventions for code).
CODE_FUNCTION_NAME = "code.function.name"
#: Where the receiver is defined; on a send's span, where the send was made.
CODE_FILE_PATH = "code.file.path"
CODE_LINE_NUMBER = "code.line.number"
#: On a receiver call's span, when it ran queries: how many, and the
#: milliseconds they took (its own, not those of the receivers it set off).
#: Not ``db.*``: the semantic conventions keep those for the span of one
#: database call, and backends take a span carrying them for one.
QUERY_COUNT = "django.signal.receiver.query_count"
QUERY_DURATION_MS = "django.signal.receiver.query_duration_ms"
#: On the span of the send the export began with, when the trace was full
#: (``MAX_EVENTS``): how many sends inside it were not exported.
DROPPED_SENDS = "django.signal.dropped_sends"

# ------------------------------------------------------------ the state

#: The export trace of the send in progress in this context: sends made
#: while it records go into it. A trace left in a copied context (a task
#: started by a receiver) counts only until the send ends.
_recording: contextvars.ContextVar[Trace | None] = contextvars.ContextVar(
    "signaltrace_otel_recording", default=None
)

_lock = threading.Lock()
_enabled = False
#: The provider given to set_tracer_provider(); None: OpenTelemetry's global.
_provider: otel_trace.TracerProvider | None = None
_tracer: Tracer | None = None
#: (what the settings were read from, the export config, its describer).
_settings: tuple[object, Config, Describer] | None = None


def enable() -> None:
    """Export spans from now on, whether or not anything else records.

    Installs the recorder's wrappers on ``Signal`` for good (until
    :func:`disable`), with :func:`spanning` around each send method. The
    app's ``ready()`` calls it when ``SIGNALTRACE["OPENTELEMETRY"]`` is on;
    a program without the app, or a test, may call it itself.
    """
    global _enabled
    with _lock:
        if _enabled:
            return
        _enabled = True
        install.set_scope(spanning)  # first: the wrappers go on scoped
        install.acquire()


def disable() -> None:
    """Undo :func:`enable`: no more spans; Django's methods return if unused."""
    global _enabled
    with _lock:
        if not _enabled:
            return
        _enabled = False
        install.set_scope(None)
        install.release()


def is_enabled() -> bool:
    """Whether sends are exported (:func:`enable` is in effect)."""
    return _enabled


def set_tracer_provider(provider: otel_trace.TracerProvider | None) -> None:
    """Make spans with *provider*'s tracer; None: OpenTelemetry's global provider.

    The global one is set once per process
    (``opentelemetry.trace.set_tracer_provider()``); tests can point the export
    at a provider of their own here.
    """
    global _provider, _tracer
    with _lock:
        _provider = provider
        _tracer = None


def _get_tracer() -> Tracer:
    """The tracer spans are made with, from the provider in use."""
    global _tracer
    tracer = _tracer
    if tracer is None:
        from signaltrace import __version__

        tracer = _tracer = otel_trace.get_tracer(
            "signaltrace", __version__, tracer_provider=_provider
        )
    return tracer


# ---------------------------------------------------------- the scope


def _context_reader() -> tuple[Callable[[], Context], str | None]:
    """How to read the current OpenTelemetry context, and its span's key.

    OpenTelemetry keeps the current context in a context variable, the span
    under a key of its own; reading them directly costs a third of
    ``get_current_span()`` or less, which a send outside any span must not
    pay for.
    Both are internal to ``opentelemetry-api``: they are checked against the
    public API, and with another runtime context (``OTEL_PYTHON_CONTEXT``) or
    another release where they differ, the public API is used (key None).
    """
    from opentelemetry.trace import propagation

    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None)
    key = getattr(propagation, "_SPAN_KEY", None)
    if isinstance(variable, contextvars.ContextVar) and isinstance(key, str):
        probe = otel_trace.NonRecordingSpan(otel_trace.INVALID_SPAN_CONTEXT)
        token = otel_context.attach(set_span_in_context(probe))
        try:
            read = variable.get()
            if read is otel_context.get_current() and read.get(key) is probe:
                return variable.get, key
        finally:
            otel_context.detach(token)
    return otel_context.get_current, None


def spanning(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """The method to put on ``Signal`` in place of the recorder's *wrapper*.

    A send made outside the sends recorded for export, while a span is
    recording, is recorded into a trace of its own and exported; any other
    send goes to *wrapper* while a trace records in this context, else to
    Django's method (``wrapper.__wrapped__``) directly. Given to
    :func:`signaltrace.install.set_scope` by :func:`enable`.
    """
    original = wrapper.__wrapped__  # type: ignore[attr-defined]
    read_context, key = _context_reader()
    recording = _recording.get
    active = traces.get

    def parent(tracing: tuple[Trace, ...]) -> Context | None:
        """The context to export this send under, or None: not to be exported.

        None inside a send already recorded for export (it is in that
        trace), and when no span records here. *tracing*: the traces active.
        """
        if tracing:
            scope = recording()
            if scope is not None and scope.ended_at is None:
                return None
        try:
            current = read_context()
            span: Any = current.get(key) if key else get_current_span(current)
            return current if span is not None and span.is_recording() else None
        except Exception as error:
            note(tracing, "reading the current span", error)
            return None

    if inspect.iscoroutinefunction(wrapper):

        @functools.wraps(original)
        async def async_spanning(self: Signal, sender: object, **named: Any) -> Any:
            tracing = active()
            current = parent(tracing)
            if current is not None:
                opened = _open(self, sender)
                if opened is not None:
                    try:
                        return await wrapper(self, sender, **named)
                    finally:
                        _close(opened, current)
            if tracing:
                return await wrapper(self, sender, **named)
            return await original(self, sender, **named)

        return async_spanning

    @functools.wraps(original)
    def sync_spanning(self: Signal, sender: object, **named: Any) -> Any:
        tracing = active()
        current = parent(tracing)
        if current is not None:
            opened = _open(self, sender)
            if opened is not None:
                try:
                    return wrapper(self, sender, **named)
                finally:
                    _close(opened, current)
        return (wrapper if tracing else original)(self, sender, **named)

    return sync_spanning


#: What _open() hands to _close(): the trace and the token of _recording.
_Opened = tuple[Trace, "contextvars.Token[Trace | None]"]


def _open(signal: Signal, sender: object) -> _Opened | None:
    """Start recording a send for export: a trace of its own, in the context.

    None when the send is not to be exported: no receiver can get it (Django's
    own first test), or starting failed.
    """
    try:
        if not signal.receivers or signal.sender_receivers_cache.get(sender) is (
            NO_RECEIVERS
        ):
            return None
        config, describer = _export_settings()
        trace = Trace(config)
        trace.describer = describer
        token = _recording.set(trace)
        # Innermost, as a capture started now would be: an active capture's
        # settings still describe the send (see dispatch._begin).
        traces.set((*traces.get(), trace))
        return trace, token
    except Exception as error:
        note(traces.get(), "starting the export of a send", error)
        return None


def _close(opened: _Opened, parent: Context) -> None:
    """Take the send's trace out of the context and export what it recorded."""
    trace, token = opened
    try:
        trace.ended_at = perf_counter()
        # By identity, as capturing.end() does: the receivers may have
        # changed the traces in between (a request's trace opened in one).
        active = traces.get()
        if active and active[-1] is trace:
            traces.set(active[:-1])
        elif trace in active:
            traces.set(tuple(t for t in active if t is not trace))
        _recording.reset(token)
    except Exception as error:
        note(traces.get(), "ending the export of a send", error)
    try:
        export(trace, parent)
    except Exception as error:
        note(traces.get(), "exporting spans", error)


def _export_settings() -> tuple[Config, Describer]:
    """The settings of an export trace, worked out again only when they change.

    Sends that reach no receiver are not exported, and no stack is walked;
    the keyword arguments are described only for ``OPENTELEMETRY_KWARGS``.
    """
    global _settings
    key = _settings_key()
    cached = _settings
    if cached is not None and cached[0] is key:
        return cached[1], cached[2]
    config = replace(get_config(), RECORD_UNRECEIVED=False, CAPTURE_STACKS=False)
    describer = Describer(config) if config.OPENTELEMETRY_KWARGS else _NoKwargs(config)
    _settings = (_settings_key(), config, describer)  # read by get_config() now
    return config, describer


def _settings_key() -> object:
    """What tells that the ``SIGNALTRACE`` setting may have changed.

    Django's ``LazySettings`` keeps each setting read in its ``__dict__``,
    and the settings object in ``_wrapped``, until the settings change
    (``override_settings`` replaces both): the setting once read, else the
    settings object. That dict is read directly, past ``LazyObject``'s
    ``__getattribute__``: get_config() at every send would cost microseconds.
    """
    state = _settings_state
    return state.get("SIGNALTRACE", state.get("_wrapped"))


#: ``django.conf.settings.__dict__`` (emptied, never replaced, when the
#: settings change).
_settings_state: dict[str, Any] = object.__getattribute__(settings, "__dict__")


class _NoKwargs(Describer):
    """Describes a send's sender and outcome, not its keyword arguments.

    The keyword arguments of a send only the export records are not exported
    (without ``OPENTELEMETRY_KWARGS``): describing them would be wasted.
    A capture started inside a receiver records the sends after it with the
    outermost trace's describer, this one: it gets them described.
    """

    def kwargs(self, named: dict[str, Any]) -> dict[str, Value]:
        if len(traces.get()) > 1:
            return super().kwargs(named)
        return {}


# ------------------------------------------------------------ the spans


def export(trace: Trace, parent: Context) -> None:
    """Make the spans of the sends *trace* recorded, under *parent*.

    A send's span is the child of the span of the receiver call it was made
    from when that call is in *trace*, else of *parent*'s span. A span lasts
    as long as the record says (the recorder's own time left out), stretched
    to hold its children when their recording was taken off.
    """
    events = trace.events
    if not events:
        return
    tracer = _get_tracer()
    kwargs_on = trace.config.OPENTELEMETRY_KWARGS
    # perf_counter() and perf_counter_ns() read the same clock.
    offset = time_ns() - perf_counter_ns()
    fallback = trace.started_at
    ends = _ends(events, fallback)
    # The receiver calls that sends were made from, and their spans' contexts.
    senders: dict[int, Context | None] = {
        id(event.parent_call): None for event in events if event.parent_call is not None
    }
    for position, event in enumerate(events):
        call = event.parent_call
        inside = senders.get(id(call)) if call is not None else None
        start = event.started_at or fallback
        attributes = _send_attributes(event, kwargs_on)
        if position == 0 and trace.dropped:
            attributes[DROPPED_SENDS] = trace.dropped
        span = tracer.start_span(
            _span_name(event),
            context=inside if inside is not None else parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=_ns(start, offset),
        )
        end = ends[id(event)]
        if event.error is not None:
            _failed(span, event.error, _ns(end, offset))
        if event.receivers:
            within = set_span_in_context(span, parent)
            for call in event.receivers:
                call_start = call.started_at or start
                call_span = tracer.start_span(
                    call.info.name,
                    context=within,
                    kind=SpanKind.INTERNAL,
                    attributes=_call_attributes(call),
                    start_time=_ns(call_start, offset),
                )
                call_end = _ns(ends.get(id(call), call_start), offset)
                if call.error is not None:
                    _failed(call_span, call.error, call_end)
                if id(call) in senders:
                    senders[id(call)] = set_span_in_context(call_span, parent)
                call_span.end(end_time=call_end)
        span.end(end_time=_ns(end, offset))


def _ends(events: list[SignalEvent], fallback: float) -> dict[int, float]:
    """When each send and receiver call ended, by ``id()``, in ``perf_counter()`` time.

    Start plus duration, or the end of the last send made inside, if later:
    a duration leaves out the time spent recording those sends.
    """
    ends: dict[int, float] = {}
    for event in reversed(events):  # nested sends come after their parents
        start = event.started_at or fallback
        end = start + event.duration
        for call in event.receivers:
            call_start = call.started_at or start
            call_end = max(call_start + call.duration, ends.get(id(call), 0.0))
            ends[id(call)] = call_end
            end = max(end, call_end)
        ends[id(event)] = end
        parent = event.parent_call
        if parent is not None:
            ends[id(parent)] = max(ends.get(id(parent), 0.0), end)
    return ends


def _ns(when: float, offset: int) -> int:
    """A ``perf_counter()`` reading as nanoseconds since the epoch."""
    return int(when * 1e9) + offset


def _span_name(event: SignalEvent) -> str:
    """A send's span name: the signal's own name (``post_save``).

    Short, as a trace view lists it; ``django.signal.name`` has the path. A
    signal found in no module keeps its whole placeholder name.
    """
    name = event.name
    return name if name.startswith("<") else name.rpartition(".")[2]


def _send_attributes(event: SignalEvent, kwargs_on: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        SIGNAL_NAME: event.name,
        SIGNAL_SENDER: event.sender_name,
        SIGNAL_METHOD: event.method,
    }
    location = event.location
    if location is not None:
        attributes[CODE_FILE_PATH] = location.filename
        attributes[CODE_LINE_NUMBER] = location.lineno
    if kwargs_on:
        for name, value in event.kwargs.items():
            # Descriptions are JSON scalars; an attribute cannot be None.
            attributes[KWARGS_PREFIX + name] = "None" if value is None else value
    return attributes


def _call_attributes(call: ReceiverCall) -> dict[str, Any]:
    info = call.info
    attributes: dict[str, Any] = {CODE_FUNCTION_NAME: info.name}
    source = info.source
    if source is not None:
        attributes[CODE_FILE_PATH] = source[0]
        attributes[CODE_LINE_NUMBER] = source[1]
    stats = call.query_stats
    if stats is not None:
        attributes[QUERY_COUNT] = stats.count
        attributes[QUERY_DURATION_MS] = round(stats.time * 1000, 4)
    return attributes


def _failed(span: Span, error: ErrorInfo, when: int) -> None:
    """Mark *span* failed with *error*, as ``Span.record_exception()`` would.

    From the description: the live exception is not kept, and its message
    unmasked and its traceback must not leave the process.
    """
    kind = error.type.removeprefix("builtins.")
    span.set_status(Status(StatusCode.ERROR, str(error)))
    span.add_event(
        "exception",
        {"exception.type": kind, "exception.message": error.message},
        timestamp=when,
    )
