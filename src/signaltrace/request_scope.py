"""One trace per request, from ``request_started`` to ``request_finished``.

A middleware cannot wrap a request in ``capture()``: Django's handlers send
``request_started`` before any middleware runs, and ``request_finished``
after the middleware chain returned, when the server closes the response
(for a streaming response, when the stream ends). So while request tracing is
on, these two Signal instances get send methods of their own (instance
attributes, shadowing the class's) that open and close the request's trace
around the class-level send. No receiver is connected, so ``has_listeners()``
and every trace stay as Django would have them.

The wrappers on ``Signal`` are installed when a request starts and removed
when the last request in flight finishes: between requests (management
commands, start-up, tests outside a request) every send is Django's own,
and no query wrapper stays in a connection.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished, request_started
from django.dispatch import Signal

from signaltrace import context, install
from signaltrace.assertions import SignalTrace
from signaltrace.capturing import end
from signaltrace.conf import get_config

__all__ = [
    "is_request_tracing",
    "request_trace",
    "start_request_tracing",
    "stop_request_tracing",
]

#: The trace of the request being handled in the current context, if any.
_request_trace: contextvars.ContextVar[SignalTrace | None] = contextvars.ContextVar(
    "signaltrace_request_trace", default=None
)
#: Called with each finished request trace, in the order they were added (the
#: middleware's history, the toolbar panel's store); empty while request
#: tracing is off. A tuple, replaced rather than changed, so that a request
#: finishing on another thread reads it without the lock.
_on_request_finished: tuple[Callable[[SignalTrace], None], ...] = ()
#: The instance attributes set on request_started and request_finished.
_boundaries: list[tuple[Signal, str, Callable[..., Any]]] = []
#: The requests in flight, each holding the wrappers installed (acquire()).
_open: set[SignalTrace] = set()
_lock = threading.Lock()


def start_request_tracing(on_finish: Callable[[SignalTrace], None]) -> None:
    """Give every request a trace of its own, until stopped.

    From now on, each ``request_started`` starts a new trace in the current
    context (recording inside any active capture) and is its first event. A
    request's trace still open in the same context is finished first: its
    response was never closed, and its trace must not take in the next
    request's events. ``request_finished`` is recorded as the last event; then
    the trace is ended, removed from the context and passed to *on_finish*
    (which must not raise: it runs inside ``response.close()``).

    Calling it again while request tracing is on adds *on_finish* to the
    callables each finished trace is passed to, in the order they were added;
    one already there is not added twice. So the middleware and the toolbar
    panel can each turn request tracing on, in any order, and both get every
    trace.
    """
    global _on_request_finished
    with _lock:
        if on_finish in _on_request_finished:
            return
        first = not _on_request_finished
        _on_request_finished = (*_on_request_finished, on_finish)
        if not first:
            return
        for signal, opens in ((request_started, True), (request_finished, False)):
            for name in ("send", "send_robust", "asend", "asend_robust"):
                if hasattr(Signal, name):  # Django 4.2 has no asend/asend_robust.
                    boundary = _make_boundary(signal, name, opens)
                    setattr(signal, name, boundary)
                    _boundaries.append((signal, name, boundary))


def stop_request_tracing() -> None:
    """Undo :func:`start_request_tracing`; does nothing when it is off.

    The traces of requests still in flight are ended where they are, without
    being handed on: they record nothing more.
    """
    global _on_request_finished
    with _lock:
        if not _on_request_finished:
            return
        _on_request_finished = ()
        for signal, name, boundary in _boundaries:
            if signal.__dict__.get(name) is boundary:
                delattr(signal, name)
        _boundaries.clear()
        in_flight = list(_open)
    for trace in in_flight:
        _close(trace, hand_on=False)


def is_request_tracing() -> bool:
    """Whether :func:`start_request_tracing` is in effect."""
    return bool(_on_request_finished)


def request_trace() -> SignalTrace | None:
    """The trace of the request being handled in the current context, if any."""
    return _request_trace.get()


def _make_boundary(signal: Signal, name: str, opens: bool) -> Callable[..., Any]:
    """*signal*'s send method *name*, which opens or closes the request's trace.

    The class-level method is looked up at each call, so that whatever wraps
    ``Signal`` (the recorder, or another tool after it) still runs.
    """
    if name.startswith("a"):

        async def async_boundary(sender: object, **named: Any) -> Any:
            if opens:
                _open_trace()
                return await getattr(type(signal), name)(signal, sender, **named)
            trace = _closing_trace()
            try:
                return await getattr(type(signal), name)(signal, sender, **named)
            finally:
                if trace is not None:
                    _close(trace, hand_on=True)

        return async_boundary

    def boundary(sender: object, **named: Any) -> Any:
        if opens:
            _open_trace()
            return getattr(type(signal), name)(signal, sender, **named)
        trace = _closing_trace()
        try:
            return getattr(type(signal), name)(signal, sender, **named)
        finally:
            if trace is not None:
                _close(trace, hand_on=True)

    return boundary


def _open_trace() -> None:
    """At request_started: start the request's trace in the current context."""
    stale = _request_trace.get()
    if stale is not None:
        _close(stale, hand_on=True)
    trace = SignalTrace(get_config())
    # Room is kept for request_finished: a request that sends more than
    # MAX_EVENTS signals still shows how it ended.
    trace.max_events = max(trace.max_events - 1, 0)
    with _lock:
        if not _on_request_finished:  # stopped meanwhile
            return
        _open.add(trace)
        install.acquire()
    _request_trace.set(trace)
    # Ended traces are left out: a capture that began before an earlier
    # request_finished restores, when it exits, the stack it started with.
    context.traces.set(
        (*(t for t in context.traces.get() if t.ended_at is None), trace)
    )


def _closing_trace() -> SignalTrace | None:
    """At request_finished: the request's trace, made to record this last send."""
    trace = _request_trace.get()
    if trace is not None and trace.ended_at is None:
        trace.max_events = trace.config.MAX_EVENTS  # the room kept for this send
        active = context.traces.get()
        if trace not in active:  # a capture exited in between and dropped it
            context.traces.set((*active, trace))
        return trace
    return None


def _close(trace: SignalTrace, *, hand_on: bool) -> None:
    """End a request's trace, release the wrappers it held, and hand it on."""
    if _request_trace.get() is trace:
        _request_trace.set(None)
    end(trace)
    with _lock:
        held = trace in _open
        _open.discard(trace)
        if held:
            install.release()
    if hand_on and held:
        for on_finish in _on_request_finished:
            on_finish(trace)
