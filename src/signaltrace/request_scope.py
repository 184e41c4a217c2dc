"""One trace per request, from ``request_started`` to ``request_finished``.

A middleware cannot wrap a request in ``capture()``: Django's handlers send
``request_started`` before any middleware runs, and ``request_finished``
after the middleware chain returned, when the server closes the response
(for a streaming response, when the stream ends). So while request tracing is
on, these two Signal instances get send methods of their own
(:class:`signaltrace.scopes.SendBoundary`) that open and close the request's
trace around the class-level send. No receiver is connected, so
``has_listeners()`` and every trace stay as Django would have them.

The wrappers on ``Signal`` are installed when a request starts and removed
when the last request in flight finishes: between requests (management
commands, start-up, tests outside a request) every send is Django's own,
and no query wrapper stays in a connection.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished, request_started

from signaltrace.assertions import SignalTrace
from signaltrace.scopes import SendBoundary, Tracing

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
#: The requests' traces: open while in flight, handed on when finished.
_tracing = Tracing("request")


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
    _tracing.start(on_finish, _BOUNDARIES)


def stop_request_tracing() -> None:
    """Undo :func:`start_request_tracing`; does nothing when it is off.

    The traces of requests still in flight are ended where they are, without
    being handed on: they record nothing more.
    """
    _tracing.stop()
    if _request_trace.get() is not None:
        _request_trace.set(None)


def is_request_tracing() -> bool:
    """Whether :func:`start_request_tracing` is in effect."""
    return _tracing.is_on


def request_trace() -> SignalTrace | None:
    """The trace of the request being handled in the current context, if any."""
    return _request_trace.get()


def _opening(sender: Any, named: dict[str, Any]) -> None:
    """At request_started: start the request's trace in the current context."""
    stale = _request_trace.get()
    if stale is not None:
        _close(stale, hand_on=True)
    # Room is kept for request_finished: a request that sends more than
    # MAX_EVENTS signals still shows how it ended.
    trace = _tracing.open(room=1)
    if trace is not None:
        _request_trace.set(trace)


def _closing(sender: Any, named: dict[str, Any]) -> Callable[[], None] | None:
    """At request_finished: the request's trace records this last send, then
    closes."""
    trace = _request_trace.get()
    if trace is None or not _tracing.resume(trace):
        return None
    return functools.partial(_close, trace, hand_on=True)


def _close(trace: SignalTrace, *, hand_on: bool) -> None:
    """End a request's trace, release the wrappers it held, and hand it on."""
    if _request_trace.get() is trace:
        _request_trace.set(None)
    _tracing.close(trace, hand_on=hand_on)


_BOUNDARIES = (
    SendBoundary(request_started, _opening, "opening a request's trace"),
    SendBoundary(request_finished, _closing, "closing a request's trace"),
)
