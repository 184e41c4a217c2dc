"""Installs the tracing wrappers on ``Signal`` and records what they see.

How it stays faithful to Django: the receivers are always looked up by
Django's own ``Signal._live_receivers`` (sender filters, weak references,
caching, dead receivers), and called in Django's order with Django's
arguments. Two ways, both recording into :mod:`signaltrace.records`:

- ``send()`` (and ``send_robust()`` from Django 5.0) to sync receivers only:
  the wrapper runs the loop Django's method runs, the same on every supported
  version, and times each call as it makes it (see _make_sync_wrapper). This
  is the hot path: model and request signals.
- Every other send: the wrapper notes the send in progress and calls Django's
  own method. Django then asks ``_live_receivers`` for the receivers; our
  version of it hands back, for that send only, thin proxies that time each
  call and record its outcome. When Django's method returns, the wrapper
  swaps the proxies in the ``(receiver, response)`` pairs for the original
  receivers. Order, concurrency, error handling and logging stay Django's.

The one other shortcut: a send that Django's method would answer with ``[]``
at its first line (no receiver can be reached) is counted and answered with
``[]`` here.

The wrappers are installed when the first capture starts and removed when the
last one ends, so with no capture active ``Signal.send`` is Django's function.

Request tracing (see :func:`start_request_tracing`, used by the middleware)
gives each request a trace of its own, from ``request_started`` to
``request_finished``. It keeps the wrappers installed while it is on and
touches only those two signals, so every other send costs what it did.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from pathlib import Path
from threading import get_ident
from time import perf_counter
from types import CodeType, FrameType, MethodType
from typing import Any

import asgiref
import django
from asgiref.sync import iscoroutinefunction
from django.core.signals import request_finished, request_started
from django.dispatch import Signal, dispatcher
from django.dispatch.dispatcher import NO_RECEIVERS

from signaltrace import naming, queries
from signaltrace.conf import get_config
from signaltrace.records import (
    CALL_CHILDREN,
    CALL_DURATION,
    CALL_EXCEPTION,
    CALL_RESPONSE,
    CALL_SEND,
    CALL_STARTED_AT,
    SEND_CALLS,
    SEND_DISPATCHED,
    SEND_DURATION,
    SEND_EXCEPTION,
    SEND_LIVE,
    SEND_METHOD,
    SEND_PARENT,
    SEND_RUNNING,
    SEND_SIGNAL,
    SEND_STACK,
    SEND_STARTED_AT,
    SEND_UNTIMED,
    CallRecord,
    SendRecord,
    new_call,
)
from signaltrace.trace import (
    ReceiverCall,
    StackFrame,
    Trace,
    call_view,
    sender_reference,
)

__all__ = [
    "acquire",
    "active_traces",
    "capture",
    "current_call",
    "is_installed",
    "is_request_tracing",
    "release",
    "request_trace",
    "start_request_tracing",
    "stop_request_tracing",
]

#: The traces recording in the current context (innermost last). A tuple so that
#: contexts copied into threads and tasks never share a mutable stack.
_traces: contextvars.ContextVar[tuple[Trace, ...]] = contextvars.ContextVar(
    "signaltrace_traces", default=()
)
#: The traced send in progress in the current context. A nested send finds its
#: parent here: the event's ``running`` sync receiver call.
_sending: contextvars.ContextVar[SendRecord | None] = contextvars.ContextVar(
    "signaltrace_sending", default=None
)
#: The async receiver call running in the current context; threads started by
#: ``sync_to_async`` inside an async receiver inherit it.
_async_call: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "signaltrace_async_call", default=None
)
#: Async receiver calls by task. Django 6.x runs concurrent async receivers as
#: tasks sharing one context, where a context variable cannot tell them apart.
#: A plain dict (each entry is removed when its call ends), so that an empty one
#: lets current_call() skip the task lookup cheaply.
_task_calls: dict[asyncio.Task[Any], CallRecord] = {}

_ROBUST_METHODS = frozenset({"send_robust", "asend_robust"})
_METHODS = ("send", "send_robust", "asend", "asend_robust", "_live_receivers")
_lock = threading.Lock()
_users = 0
_originals: dict[str, Any] = {}
_wrappers: dict[str, Any] = {}
#: Django's own ``Signal._live_receivers`` (None if another tool's wrapper was
#: there before us), and ours of it, while installed: see _make_sync_wrapper().
_djangos_live_receivers: Callable[[Signal, object], Any] | None = None
_live_receivers_wrapper: Callable[[Signal, object], Any] | None = None

# Frames from these directories are skipped when looking for where a send came
# from: the user wants their own line, not Django's model machinery.
_SKIPPED_DIRS = (
    *(str(Path(module.__file__).parent) + "/" for module in (django, asgiref)),  # type: ignore[arg-type]
    str(Path(__file__).parent) + "/",
    asyncio.__file__.rsplit("/", 1)[0] + "/",
)
#: Whether a file is in _SKIPPED_DIRS, by file name: asked for every frame
#: between a send and the user's code, at every recorded send.
_skipped_files: dict[str, bool] = {}
# CAPTURE_STACKS: the recorder's own frames are left out of a stack, and a
# stack keeps at most this many frames (a request through the toolbar and a
# dozen middleware is about a hundred deep).
_OWN_DIR = str(Path(__file__).parent) + "/"
_STACK_LIMIT = 128
#: Stacks are kept for this many events of a trace at most: a request that
#: sends thousands of signals would otherwise hold megabytes of frames.
_STACKED_EVENTS_LIMIT = 1_000

#: Bound once: they run at every sync receiver call.
_enter_thread = queries.enter_thread
_entered_threads = queries.entered_threads
_receiver_entries = naming.receiver_entries()
_sender_entries = naming.sender_entries()


# ------------------------------------------------------------- installation


def acquire() -> None:
    """Install the wrappers on ``Signal`` if this is the first user."""
    global _users
    with _lock:
        _users += 1
        if _users == 1:
            _install()


def release() -> None:
    """Remove the wrappers if this was the last user."""
    global _users
    with _lock:
        if _users <= 0:
            raise RuntimeError("signaltrace.recorder.release() without acquire()")
        _users -= 1
        if _users == 0:
            _uninstall()


def is_installed() -> bool:
    """Whether ``Signal``'s methods are currently our wrappers."""
    return bool(_originals)


def _install() -> None:
    makers: dict[str, Callable[[Any], Any]] = {
        "send": _make_sync_wrapper,
        "send_robust": _make_sync_wrapper,
        "asend": _make_async_wrapper,
        "asend_robust": _make_async_wrapper,
        "_live_receivers": _make_live_receivers,
    }
    for name in _METHODS:
        original = Signal.__dict__.get(name)
        if original is None:  # Django 4.2 has no asend/asend_robust.
            continue
        wrapper = makers[name](original)
        _originals[name] = original
        _wrappers[name] = wrapper
        setattr(Signal, name, wrapper)
    global _djangos_live_receivers, _live_receivers_wrapper
    _live_receivers_wrapper = _wrappers["_live_receivers"]
    if _is_djangos(_originals["_live_receivers"]):
        _djangos_live_receivers = _originals["_live_receivers"]
    queries.start(_running_call)


def _uninstall() -> None:
    queries.stop()
    for name, original in _originals.items():
        # Leave a method alone if another tool wrapped it after us: removing
        # ours would remove theirs. Our wrapper passes straight through then.
        if Signal.__dict__.get(name) is _wrappers[name]:
            setattr(Signal, name, original)
    _originals.clear()
    _wrappers.clear()
    global _djangos_live_receivers, _live_receivers_wrapper
    _djangos_live_receivers = _live_receivers_wrapper = None


# --------------------------------------------------------- capture context


def active_traces() -> tuple[Trace, ...]:
    """The traces recording in the current context, outermost first."""
    return _traces.get()


def push(trace: Trace) -> contextvars.Token[tuple[Trace, ...]]:
    """Make *trace* record in the current context (inside any active trace)."""
    return _traces.set((*_traces.get(), trace))


def pop(token: contextvars.Token[tuple[Trace, ...]]) -> None:
    """Undo :func:`push`."""
    _traces.reset(token)


def current_call() -> ReceiverCall | None:
    """The receiver call that is running in this context or task, if any."""
    call = _running_call()
    return call_view(call) if call is not None else None


def _running_call() -> CallRecord | None:
    """The record of the receiver call running in this context or task, if any."""
    send = _sending.get()
    if send is None:
        return None
    if _task_calls:
        loop = asyncio._get_running_loop()
        if loop is not None:
            task = asyncio.current_task(loop)
            if task is not None:
                call = _task_calls.get(task)
                if call is not None:
                    return call
        call = _async_call.get()
        if call is not None and call[CALL_SEND] is send:
            return call
    return send[SEND_RUNNING]  # type: ignore[no-any-return]


# ------------------------------------------------------------ request scope
#
# A middleware cannot wrap a request in capture(): Django's handlers send
# request_started before any middleware runs, and request_finished after the
# middleware chain returned, when the server closes the response (for a
# streaming response, when the stream ends). So while request tracing is on,
# these two Signal instances get send methods of their own (instance
# attributes, shadowing the class's) that open and close the request's trace
# around the class-level wrapped send. No receiver is connected, so
# has_listeners() and every trace stay as Django would have them, and no other
# send pays for the feature.

#: The trace of the request being handled in the current context, if any.
_request_trace: contextvars.ContextVar[Trace | None] = contextvars.ContextVar(
    "signaltrace_request_trace", default=None
)
#: Called with each finished request trace, in the order they were added (the
#: middleware's history, the toolbar panel's store); empty while request
#: tracing is off. A tuple, replaced rather than changed, so that a request
#: finishing on another thread reads it without the lock.
_on_request_finished: tuple[Callable[[Trace], None], ...] = ()
#: The instance attributes set on request_started and request_finished.
_boundaries: list[tuple[Signal, str, Callable[..., Any]]] = []
_request_lock = threading.Lock()


def start_request_tracing(on_finish: Callable[[Trace], None]) -> None:
    """Give every request a :class:`Trace` of its own, until stopped.

    From now on, each ``request_started`` starts a new trace in the current
    context (recording inside any active capture) and is its first event. A
    request's trace still open in the same context is finished first: its
    response was never closed, and its trace must not take in the next
    request's events. ``request_finished`` is recorded as the last event; then
    the trace is ended, removed from the context and passed to *on_finish*
    (which must not raise: it runs inside ``response.close()``).

    Installs the wrappers (:func:`acquire`) and keeps them installed until
    :func:`stop_request_tracing`: ``request_started`` is sent before any
    middleware runs, so they must already be there. Calling it again while
    request tracing is on adds *on_finish* to the callables each finished
    trace is passed to, in the order they were added; one already there is
    not added twice. So the middleware and the toolbar panel can each turn
    request tracing on, in any order, and both get every trace.
    """
    global _on_request_finished
    with _request_lock:
        if on_finish in _on_request_finished:
            return
        first = not _on_request_finished
        _on_request_finished = (*_on_request_finished, on_finish)
        if not first:
            return
        acquire()
        for signal, opens in ((request_started, True), (request_finished, False)):
            for name in ("send", "send_robust", "asend", "asend_robust"):
                if hasattr(Signal, name):  # Django 4.2 has no asend/asend_robust.
                    boundary = _make_request_boundary(signal, name, opens)
                    setattr(signal, name, boundary)
                    _boundaries.append((signal, name, boundary))


def stop_request_tracing() -> None:
    """Undo :func:`start_request_tracing`; does nothing when it is off.

    A request trace still open in the current context (a test that never
    closed its response) is ended without being handed on. Requests running
    elsewhere keep recording into their traces, which are no longer handed on.
    """
    global _on_request_finished
    with _request_lock:
        if not _on_request_finished:
            return
        _on_request_finished = ()
        open_trace = _request_trace.get()
        if open_trace is not None:
            _close_request_trace(open_trace)
        for signal, name, boundary in _boundaries:
            if signal.__dict__.get(name) is boundary:
                delattr(signal, name)
        _boundaries.clear()
        release()


def is_request_tracing() -> bool:
    """Whether :func:`start_request_tracing` is in effect."""
    return bool(_on_request_finished)


def request_trace() -> Trace | None:
    """The trace of the request being handled in the current context, if any."""
    return _request_trace.get()


def _make_request_boundary(
    signal: Signal, name: str, opens: bool
) -> Callable[..., Any]:
    """Return *signal*'s send method *name* that opens or closes the request trace.

    The class-level method is looked up at each call, so that whatever wraps
    ``Signal`` (the recorder, or another tool after it) still runs.
    """
    if name.startswith("a"):

        async def async_boundary(sender: object, **named: Any) -> Any:
            send = getattr(type(signal), name)
            if opens:
                _open_request_trace()
                return await send(signal, sender, **named)
            trace = _closing_request_trace()
            try:
                return await send(signal, sender, **named)
            finally:
                if trace is not None:
                    _close_request_trace(trace)

        return async_boundary

    def boundary(sender: object, **named: Any) -> Any:
        send = getattr(type(signal), name)
        if opens:
            _open_request_trace()
            return send(signal, sender, **named)
        trace = _closing_request_trace()
        try:
            return send(signal, sender, **named)
        finally:
            if trace is not None:
                _close_request_trace(trace)

    return boundary


def _open_request_trace() -> None:
    """At request_started: start the request's trace in the current context."""
    stale = _request_trace.get()
    if stale is not None:
        _close_request_trace(stale)
    trace = Trace(get_config())
    _request_trace.set(trace)
    # Ended traces are left out: a capture that began before an earlier
    # request_finished restores, when it exits, the stack it started with.
    _traces.set((*(t for t in _traces.get() if t.ended_at is None), trace))


def _closing_request_trace() -> Trace | None:
    """At request_finished: the request's trace, made to record this last send."""
    trace = _request_trace.get()
    if trace is not None:
        traces = _traces.get()
        if trace not in traces:  # a capture exited in between and dropped it
            _traces.set((*traces, trace))
    return trace


def _close_request_trace(trace: Trace) -> None:
    """End a request's trace, take it out of the context and hand it on."""
    if _request_trace.get() is trace:
        _request_trace.set(None)
    traces = _traces.get()
    if trace in traces:
        _traces.set(tuple(t for t in traces if t is not trace))
    trace.ended_at = perf_counter()
    for on_finish in _on_request_finished:
        on_finish(trace)


# ------------------------------------------------------------------ sending
#
# What a send and its receiver calls are recorded as: see signaltrace.records.
# The record of a send is written in the order of its layout there.


def _begin(
    signal: Signal,
    traces: tuple[Trace, ...],
    method: str,
    sender: object,
    named: dict[str, Any],
) -> SendRecord | None:
    """Start the record of a send, or None when every trace is full.

    Called by the send wrappers only: the frame two levels up made the send.
    Its location (and stack, if a trace wants it) is noted now, while the
    frame is there to read; a send that reaches no receiver may yet be counted
    instead, by :func:`_unreceived`.
    """
    room = traces
    if len(traces) == 1:  # the common case, kept cheap
        trace = traces[0]
        if len(trace._records) >= trace.config.MAX_EVENTS:
            trace.dropped += 1
            return None
    else:
        room = tuple(t for t in traces if len(t._records) < t.config.MAX_EVENTS)
        for trace in traces:
            if trace not in room:
                trace.dropped += 1
        if not room:
            return None
    entry = _sender_entries.get(id(sender))
    sender_name: str | None
    if entry is not None and entry[0]() is sender:  # a class sender, cached
        sender_ref, sender_name = entry
    else:
        sender_ref, sender_name = sender_reference(sender)
    # Where the send came from: the first frame outside Django, asgiref,
    # asyncio and signaltrace (_location(), short-cut for a send made straight
    # from the user's code).
    frame = sys._getframe(2)
    code = frame.f_code
    if _skipped_files.get(code.co_filename) is False:
        where: tuple[CodeType, int] | None = (code, frame.f_lasti)
    else:
        where = _location(frame)
    parent = None if _sending.get() is None else _running_call()
    started_at = perf_counter()
    send: SendRecord = [
        signal,
        sender_ref,
        sender_name,
        named,
        method,
        started_at,
        started_at - traces[0].started_at,
        0.0,  # duration
        [],  # calls
        where,
        parent,
        None,  # exception
        None,  # stack
        None,  # running call
        False,  # dispatched
        None,  # looked-up receivers
        False,  # untimed
        None,  # view
    ]
    for trace in room:
        trace._records.append(send)
        if (
            trace.config.CAPTURE_STACKS
            and send[SEND_STACK] is None
            and len(trace._records) <= _STACKED_EVENTS_LIMIT
        ):
            send[SEND_STACK] = _stack(frame)
    if parent is not None:
        children = parent[CALL_CHILDREN]
        if children is None:
            parent[CALL_CHILDREN] = [send]
        else:
            children.append(send)
    return send


def _unreceived(send: SendRecord, traces: tuple[Trace, ...], sender: object) -> None:
    """A send ended without reaching a receiver: count it instead of keeping it.

    Unless a trace records such sends (``RECORD_UNRECEIVED``).
    """
    kept = False
    for trace in traces:
        if trace.config.RECORD_UNRECEIVED:
            kept = True
        else:
            _discard(trace._records, send)
            _count(trace, send[SEND_SIGNAL], sender)
    parent = send[SEND_PARENT]
    if not kept and parent is not None and parent[CALL_CHILDREN]:
        _discard(parent[CALL_CHILDREN], send)


def _discard(records: list[SendRecord], send: SendRecord) -> None:
    """Remove *send* from *records*, by identity (records are compared by value)."""
    for position in range(len(records) - 1, -1, -1):  # it is usually the last
        if records[position] is send:
            del records[position]
            return


def _count(trace: Trace, signal: Signal, sender: object) -> None:
    key = (id(signal), id(sender))
    entry = trace._counts.get(key)
    if entry is None:
        trace._counts[key] = [
            naming.signal_name(signal),
            naming.sender_name(sender),
            1,
        ]
    else:
        entry[2] += 1


def _location(frame: FrameType | None) -> tuple[CodeType, int] | None:
    """The first frame outside Django, asgiref, asyncio and signaltrace.

    Given as the frame's code and last instruction, from which
    :attr:`SignalEvent.location` works out the line when it is read.
    """
    first = frame
    while frame is not None:
        filename = frame.f_code.co_filename
        skipped = _skipped_files.get(filename)
        if skipped is None:
            skipped = _skipped_files[filename] = filename.startswith(_SKIPPED_DIRS)
        if not skipped:
            return (frame.f_code, frame.f_lasti)
        frame = frame.f_back
    if first is None:
        return None
    return (first.f_code, first.f_lasti)


def _stack(frame: FrameType | None) -> tuple[StackFrame, ...]:
    """The frames from *frame* outwards, outermost first, without signaltrace's.

    The innermost ``_STACK_LIMIT`` frames are kept: where the send came from
    matters more than how the server reached the view.
    """
    frames: list[StackFrame] = []
    while frame is not None and len(frames) < _STACK_LIMIT:
        code = frame.f_code
        if not code.co_filename.startswith(_OWN_DIR):
            module = frame.f_globals.get("__name__")
            frames.append(
                StackFrame(
                    code.co_filename,
                    frame.f_lineno,
                    code.co_name,
                    module if isinstance(module, str) else "",
                )
            )
        frame = frame.f_back
    frames.reverse()
    return tuple(frames)


def _unwrap(send: SendRecord, responses: Any) -> Any:
    """Give back Django's list with our proxies replaced by the original receivers.

    For a send whose calls could not be timed (``SEND_UNTIMED``), record each
    call from its ``(receiver, response)`` pair: name and response, no duration.
    """
    if type(responses) is not list:
        return responses
    if send[SEND_UNTIMED]:
        calls = send[SEND_CALLS]
        for receiver, response in responses:
            call = new_call(send, *_describe(receiver), iscoroutinefunction(receiver))
            call[CALL_RESPONSE] = response
            calls.append(call)
        return responses
    for position, pair in enumerate(responses):
        receiver = pair[0]
        if type(receiver) in _PROXY_TYPES:
            responses[position] = (receiver.receiver, pair[1])
    return responses


def _unreachable(signal: Signal, sender: object) -> bool:
    """Whether a send cannot reach any receiver: Django's own first test.

    Every Django send method starts with it and returns ``[]`` when it holds.
    """
    return (
        not signal.receivers
        or signal.sender_receivers_cache.get(sender) is NO_RECEIVERS
    )


def _count_only(signal: Signal, traces: tuple[Trace, ...], sender: object) -> bool:
    """Count a send that cannot reach any receiver. True when it was counted.

    The wrappers test :func:`_unreachable` (inlined) before calling this: the
    hot sends that nobody receives (``pre_init`` and ``post_init`` for every
    row of every queryset) cost no more than that test and this count.
    """
    if len(traces) == 1:  # the common case, inlined: it runs for every row
        trace = traces[0]
        if trace.config.RECORD_UNRECEIVED:
            return False
        entry = trace._counts.get((id(signal), id(sender)))
        if entry is None:
            _count(trace, signal, sender)
        else:
            entry[2] += 1
        return True
    for trace in traces:
        if trace.config.RECORD_UNRECEIVED:
            return False
    for trace in traces:
        _count(trace, signal, sender)
    return True


def _is_djangos(method: Callable[..., Any]) -> bool:
    """Whether *method* is Django's own, not another tool's wrapper of it."""
    code = getattr(method, "__code__", None)
    return code is not None and code.co_filename == dispatcher.__file__


def _make_sync_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    method = original.__name__
    # Django's method would return [] straight away for a send that _count_only
    # counts; skip calling it then. Another tool's wrapper is always called.
    skippable = _is_djangos(original)
    # Django's send() to sync receivers only is the same on every supported
    # version: look the receivers up once with _live_receivers(), call each in
    # order with signal=, sender= and the named arguments, letting any error
    # propagate, and return the (receiver, response) pairs in a new list.
    # send_robust() is the same from Django 5.0, except that an Exception is
    # logged with self._log_robust_failure() and becomes the response. The
    # wrapper runs that loop itself, timing each call: it costs a fraction of
    # timing Django's loop from outside, and a traceback through a receiver
    # has the wrapper's frame where Django's would be, and nothing more. The
    # lookup stays Django's (sender filters, weak references, caching, dead
    # receivers). Sends with async receivers (Django 5.0+) are left to
    # Django's method, with the receivers looked up here.
    robust = method == "send_robust"
    direct = skippable and (
        method == "send" or (robust and hasattr(Signal, "_log_robust_failure"))
    )

    @functools.wraps(original)
    def traced(self: Signal, sender: object, **named: Any) -> Any:
        traces = _traces.get()
        if not traces:
            return original(self, sender, **named)
        if (
            not self.receivers  # _unreachable(), inlined
            or self.sender_receivers_cache.get(sender) is NO_RECEIVERS
        ) and _count_only(self, traces, sender):
            return [] if skippable else original(self, sender, **named)
        send = _begin(self, traces, method, sender, named)
        if send is None:
            return original(self, sender, **named)
        token = _sending.set(send)
        try:
            if not (
                direct
                and _djangos_live_receivers is not None
                and type(self)._live_receivers is _live_receivers_wrapper
            ):
                return _unwrap(send, original(self, sender, **named))
            receivers = _djangos_live_receivers(self, sender)
            if type(receivers) is tuple:  # Django 5.0+: (sync, async)
                if receivers[1]:
                    send[SEND_LIVE] = receivers
                    return _unwrap(send, original(self, sender, **named))
                receivers = receivers[0]
            send[SEND_DISPATCHED] = True
            calls = send[SEND_CALLS]
            responses = []
            if get_ident() not in _entered_threads:  # _enter_thread(), short-cut
                _enter_thread()  # the receivers run their queries in this thread
            for receiver in receivers:
                entry = _receiver_entries.get(id(receiver))
                if entry is not None and entry[0]() is receiver:  # _describe()
                    name, ref = entry[1], entry[0]
                else:
                    name, ref = _describe(receiver)
                # new_call(), inlined
                call = [send, name, ref, False, 0.0, 0.0, None, None, None, None, None]
                calls.append(call)
                # Which receiver is running, for sends made from inside it.
                send[SEND_RUNNING] = call
                call[CALL_STARTED_AT] = started = perf_counter()
                try:
                    response = receiver(signal=self, sender=sender, **named)
                except BaseException as error:
                    call[CALL_DURATION] = perf_counter() - started
                    call[CALL_EXCEPTION] = error
                    send[SEND_RUNNING] = None
                    if not (robust and isinstance(error, Exception)):
                        raise
                    self._log_robust_failure(receiver, error)  # type: ignore[attr-defined]
                    responses.append((receiver, error))
                    continue
                call[CALL_DURATION] = perf_counter() - started
                call[CALL_RESPONSE] = response
                responses.append((receiver, response))
            send[SEND_RUNNING] = None
            return responses
        except BaseException as error:
            send[SEND_EXCEPTION] = error
            raise
        finally:
            _sending.reset(token)
            send[SEND_DURATION] = perf_counter() - send[SEND_STARTED_AT]
            if not send[SEND_CALLS]:
                _unreceived(send, traces, sender)

    return traced


def _make_async_wrapper(
    original: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    method = original.__name__
    skippable = _is_djangos(original)  # see _make_sync_wrapper

    @functools.wraps(original)
    async def traced(self: Signal, sender: object, **named: Any) -> Any:
        traces = _traces.get()
        if not traces:
            return await original(self, sender, **named)
        if _unreachable(self, sender) and _count_only(self, traces, sender):
            return [] if skippable else await original(self, sender, **named)
        send = _begin(self, traces, method, sender, named)
        if send is None:
            return await original(self, sender, **named)
        token = _sending.set(send)
        try:
            return _unwrap(send, await original(self, sender, **named))
        except BaseException as error:
            send[SEND_EXCEPTION] = error
            raise
        finally:
            _sending.reset(token)
            send[SEND_DURATION] = perf_counter() - send[SEND_STARTED_AT]
            if not send[SEND_CALLS]:
                _unreceived(send, traces, sender)

    return traced


def _make_live_receivers(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def live_receivers(self: Signal, sender: object) -> Any:
        send = _sending.get()
        if send is None or send[SEND_SIGNAL] is not self or send[SEND_DISPATCHED]:
            return original(self, sender)
        # Only the first lookup of a traced send is Django's dispatch;
        # has_listeners() and other lookups get Django's answer untouched.
        send[SEND_DISPATCHED] = True
        receivers = send[SEND_LIVE]
        if receivers is None:
            receivers = original(self, sender)
        else:  # looked up by the send wrapper: not to be kept alive by the record
            send[SEND_LIVE] = None
        if type(self)._live_receivers is not _live_receivers_wrapper:
            # A subclass's _live_receivers() (or another tool's wrapper of it)
            # called this one and works on what it gets: it must get Django's
            # receivers, not proxies. The calls are recorded from the
            # responses instead, untimed (see _unwrap()).
            send[SEND_UNTIMED] = True
            return receivers
        sync_proxy, async_proxy = (
            (_RobustSyncProxy, _RobustAsyncProxy)
            if send[SEND_METHOD] in _ROBUST_METHODS
            else (_SyncProxy, _AsyncProxy)
        )
        if type(receivers) is tuple:  # Django 5.0+: (sync, async)
            sync_receivers, async_receivers = receivers
            return (
                [sync_proxy(receiver, send) for receiver in sync_receivers],
                [async_proxy(receiver, send) for receiver in async_receivers]
                if async_receivers
                else async_receivers,
            )
        return [sync_proxy(receiver, send) for receiver in receivers]

    return live_receivers


# ---------------------------------------------------------------- proxies


def _describe(receiver: Any) -> tuple[str, Any]:
    """The name of a receiver and a weak reference to it (None if impossible)."""
    if type(receiver) is MethodType:
        try:
            return naming.receiver_name(receiver), weakref.WeakMethod(receiver)
        except TypeError:  # __self__ cannot be weakly referenced
            return naming.receiver_name(receiver), None
    entry = naming.receiver_entry(receiver)  # cached per receiver
    if entry is None:  # not weakly referenceable: keep the name only
        return naming.callable_name(receiver), None
    return entry[1], entry[0]


class _Proxy:
    """Stands in for one receiver during one traced send, and times its call.

    For every send the ``send()`` wrapper does not run itself: the other send
    methods, and sends with async receivers.
    """

    __slots__ = ("receiver", "send")

    def __init__(self, receiver: Any, send: SendRecord) -> None:
        self.receiver = receiver
        self.send = send


class _Delegating:
    """Forwards attribute reads to the receiver.

    Django reads ``receiver.__qualname__`` to log ``send_robust`` failures; it
    must get (or fail to get, for a partial) exactly what the receiver has.
    Kept off the plain proxies: a ``__getattr__`` slows every call of an object.
    """

    __slots__ = ()
    receiver: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.receiver, name)


class _SyncProxy(_Proxy):
    """The proxy for a sync receiver."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        receiver = self.receiver
        send = self.send
        call = new_call(send, *_describe(receiver), False)
        send[SEND_CALLS].append(call)
        # The receiver may run in a thread of its own (sync_to_async): its
        # queries are recorded once that thread's connections are wrapped.
        _enter_thread()
        # Sync receivers of one send run one at a time: the send itself says
        # which one is running, for sends made from inside it.
        send[SEND_RUNNING] = call
        call[CALL_STARTED_AT] = started = perf_counter()
        try:
            response = receiver(*args, **kwargs)
        except BaseException as error:
            call[CALL_EXCEPTION] = error
            raise
        finally:
            call[CALL_DURATION] = perf_counter() - started
            send[SEND_RUNNING] = None
        call[CALL_RESPONSE] = response
        return response


class _AsyncProxy(_Proxy):
    """The proxy for a coroutine receiver: calling it returns a coroutine."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(args, kwargs)

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        receiver = self.receiver
        send = self.send
        call = new_call(send, *_describe(receiver), True)
        send[SEND_CALLS].append(call)
        task = asyncio.current_task()
        if task is not None:
            _task_calls[task] = call
        # Set and restore without a token: on Django 6.x sibling receivers
        # share this context and may finish in any order. _running_call()
        # ignores a value left over from a finished send.
        previous = _async_call.get()
        _async_call.set(call)
        call[CALL_STARTED_AT] = started = perf_counter()
        try:
            response = await receiver(*args, **kwargs)
        except BaseException as error:
            call[CALL_EXCEPTION] = error
            raise
        finally:
            call[CALL_DURATION] = perf_counter() - started
            _async_call.set(previous)
            if task is not None:
                _task_calls.pop(task, None)
        call[CALL_RESPONSE] = response
        return response


class _RobustSyncProxy(_Delegating, _SyncProxy):
    __slots__ = ()


class _RobustAsyncProxy(_Delegating, _AsyncProxy):
    __slots__ = ()


_PROXY_TYPES = frozenset({_SyncProxy, _AsyncProxy, _RobustSyncProxy, _RobustAsyncProxy})

# ------------------------------------------------------------------ capture


class capture:
    """Record every signal sent in the current context while the block runs.

    ::

        with signaltrace.capture() as trace:
            User.objects.create(username="ada")

    The context is the current thread or asyncio task: other threads and tasks
    are not recorded, tasks started inside the block are. Captures nest; an
    inner capture's events are recorded by the outer ones too.

    Arguments:
        record_unreceived: record sends that reached no receiver as full events
            (default: the ``RECORD_UNRECEIVED`` setting, False: they are only
            counted in ``trace.counts``).
        max_events: most events to store (default: the ``MAX_EVENTS`` setting).
    """

    def __init__(
        self, *, record_unreceived: bool | None = None, max_events: int | None = None
    ) -> None:
        self._overrides = {
            "RECORD_UNRECEIVED": record_unreceived,
            "MAX_EVENTS": max_events,
        }
        self._token: contextvars.Token[tuple[Trace, ...]] | None = None
        self.trace: Trace | None = None

    def __enter__(self) -> Trace:
        if self._token is not None:
            raise RuntimeError("This capture is already active.")
        trace = Trace(get_config().with_overrides(**self._overrides))
        acquire()
        # Async code under test often runs its ORM calls in this thread.
        queries.enter_thread()
        self._token = push(trace)
        self.trace = trace
        return trace

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        assert self.trace is not None
        pop(self._token)
        self._token = None
        self.trace.ended_at = perf_counter()
        release()

    async def __aenter__(self) -> Trace:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)
