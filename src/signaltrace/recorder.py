"""Installs the tracing wrappers on ``Signal`` and records what they see.

How it stays faithful to Django: the wrappers do not reimplement dispatch.
Each wrapped send method marks the send as *pending* and calls Django's own
method. Django then asks ``Signal._live_receivers`` for the receivers; our
version of it hands back, for the pending send only, thin proxies that time
each call and record its outcome. When Django's method returns, the wrapper
swaps the proxies in the ``(receiver, response)`` pairs for the original
receivers. Order, concurrency, error handling, logging, weak references and
caching are therefore Django's own, on every Django version.

The wrappers are installed when the first capture starts and removed when the
last one ends, so with no capture active ``Signal.send`` is Django's function.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from pathlib import Path
from time import perf_counter
from types import FrameType, MethodType
from typing import Any

import asgiref
import django
from django.dispatch import Signal
from django.dispatch.dispatcher import NO_RECEIVERS

from signaltrace import naming
from signaltrace.conf import get_config
from signaltrace.trace import Location, ReceiverCall, SignalEvent, Trace

__all__ = [
    "acquire",
    "active_traces",
    "capture",
    "current_call",
    "is_installed",
    "release",
]

#: The traces recording in the current context (innermost last). A tuple so that
#: contexts copied into threads and tasks never share a mutable stack.
_traces: contextvars.ContextVar[tuple[Trace, ...]] = contextvars.ContextVar(
    "signaltrace_traces", default=()
)
#: The receiver call running in the current context, to parent nested sends.
_current_call: contextvars.ContextVar[ReceiverCall | None] = contextvars.ContextVar(
    "signaltrace_current_call", default=None
)
#: The send waiting for Django to look up its receivers.
_pending: contextvars.ContextVar[SignalEvent | None] = contextvars.ContextVar(
    "signaltrace_pending", default=None
)
#: Async receiver calls by task. Django 6.x runs concurrent async receivers as
#: tasks sharing one context, where a context variable cannot tell them apart.
_task_calls: weakref.WeakKeyDictionary[asyncio.Task[Any], ReceiverCall] = (
    weakref.WeakKeyDictionary()
)

_METHODS = ("send", "send_robust", "asend", "asend_robust", "_live_receivers")
_lock = threading.Lock()
_users = 0
_originals: dict[str, Any] = {}
_wrappers: dict[str, Any] = {}

# Frames from these directories are skipped when looking for where a send came
# from: the user wants their own line, not Django's model machinery.
_SKIPPED_DIRS = (
    *(str(Path(module.__file__).parent) + "/" for module in (django, asgiref)),  # type: ignore[arg-type]
    str(Path(__file__).parent) + "/",
)
_SKIPPED_FILES = (asyncio.__file__.rsplit("/", 1)[0] + "/",)


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


def _uninstall() -> None:
    for name, original in _originals.items():
        # Leave a method alone if another tool wrapped it after us: removing
        # ours would remove theirs. Our wrapper passes straight through then.
        if Signal.__dict__.get(name) is _wrappers[name]:
            setattr(Signal, name, original)
    _originals.clear()
    _wrappers.clear()


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
    if _task_calls:
        loop = asyncio._get_running_loop()
        if loop is not None:
            task = asyncio.current_task(loop)
            if task is not None:
                call = _task_calls.get(task)
                if call is not None:
                    return call
    return _current_call.get()


# ------------------------------------------------------------------ sending


def _begin(
    signal: Signal,
    traces: tuple[Trace, ...],
    method: str,
    sender: object,
    named: dict[str, Any],
) -> SignalEvent | None:
    """Create the event for a send, or None when every trace is full."""
    if all(len(trace.events) >= trace.config.MAX_EVENTS for trace in traces):
        for trace in traces:
            trace.dropped += 1
        return None
    name = naming.signal_name(signal)  # first call per signal scans sys.modules
    started_at = perf_counter()
    event = SignalEvent(
        signal,
        name,
        sender,
        named,
        method,
        current_call(),
        started_at,
        started_at - traces[0].started_at,
    )
    for trace in traces:
        if len(trace.events) < trace.config.MAX_EVENTS:
            trace.events.append(event)
        else:
            trace.dropped += 1
    if event.parent_call is not None:
        event.parent_call.children.append(event)
    return event


def _finish(
    event: SignalEvent, traces: tuple[Trace, ...], frame: FrameType | None
) -> None:
    """Complete an event: keep it with its location, or count it if unreceived."""
    event.duration = perf_counter() - event.started_at
    kept = False
    for trace in traces:
        if event.receivers or trace.config.RECORD_UNRECEIVED:
            kept = True
        else:  # Reached no receiver: this trace counts it instead of storing it.
            _discard(trace.events, event)
            _count(trace, event.signal, event.sender)
    if kept:
        event.location = _location(frame)
    elif event.parent_call is not None:
        _discard(event.parent_call.children, event)


def _discard(events: list[SignalEvent], event: SignalEvent) -> None:
    if events and events[-1] is event:
        events.pop()
    else:
        with contextlib.suppress(ValueError):
            events.remove(event)


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


def _location(frame: FrameType | None) -> Location | None:
    """The first frame outside Django, asgiref, asyncio and signaltrace."""
    first = frame
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_SKIPPED_DIRS) and not filename.startswith(
            _SKIPPED_FILES
        ):
            break
        frame = frame.f_back
    if frame is None:
        frame = first
    if frame is None:
        return None
    return Location(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def _unwrap_responses(responses: Any) -> Any:
    """Give back Django's list with our proxies replaced by the original receivers."""
    if type(responses) is list:
        for position, pair in enumerate(responses):
            receiver = pair[0]
            if type(receiver) is _SyncProxy or type(receiver) is _AsyncProxy:
                responses[position] = (receiver.receiver, pair[1])
    return responses


def _count_only(signal: Signal, traces: tuple[Trace, ...], sender: object) -> bool:
    """Count a send that cannot reach any receiver. True when it was counted.

    The test is Django's own first line of every send method, so the hot
    no-receiver sends (``pre_init``/``post_init`` for every row) stay cheap.
    """
    if (
        signal.receivers
        and signal.sender_receivers_cache.get(sender) is not NO_RECEIVERS
    ):
        return False
    for trace in traces:
        if trace.config.RECORD_UNRECEIVED:
            return False
    for trace in traces:
        _count(trace, signal, sender)
    return True


def _make_sync_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    method = original.__name__

    @functools.wraps(original)
    def traced(self: Signal, sender: object, **named: Any) -> Any:
        traces = _traces.get()
        if not traces or _count_only(self, traces, sender):
            return original(self, sender, **named)
        event = _begin(self, traces, method, sender, named)
        if event is None:
            return original(self, sender, **named)
        token = _pending.set(event)
        try:
            return _unwrap_responses(original(self, sender, **named))
        except BaseException as error:
            event.exception = error
            raise
        finally:
            _pending.reset(token)
            _finish(event, traces, sys._getframe(1))

    return traced


def _make_async_wrapper(
    original: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    method = original.__name__

    @functools.wraps(original)
    async def traced(self: Signal, sender: object, **named: Any) -> Any:
        traces = _traces.get()
        if not traces or _count_only(self, traces, sender):
            return await original(self, sender, **named)
        event = _begin(self, traces, method, sender, named)
        if event is None:
            return await original(self, sender, **named)
        token = _pending.set(event)
        try:
            return _unwrap_responses(await original(self, sender, **named))
        except BaseException as error:
            event.exception = error
            raise
        finally:
            _pending.reset(token)
            _finish(event, traces, sys._getframe(1))

    return traced


def _make_live_receivers(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def live_receivers(self: Signal, sender: object) -> Any:
        receivers = original(self, sender)
        event = _pending.get()
        if event is None or event.signal is not self:
            return receivers
        # Only the first lookup of a pending send is Django's dispatch;
        # has_listeners() and other lookups get Django's answer untouched.
        _pending.set(None)
        if type(receivers) is tuple:  # Django 5.0+: (sync, async)
            sync_receivers, async_receivers = receivers
            return (
                [_SyncProxy(receiver, event) for receiver in sync_receivers],
                [_AsyncProxy(receiver, event) for receiver in async_receivers],
            )
        return [_SyncProxy(receiver, event) for receiver in receivers]

    return live_receivers


# ---------------------------------------------------------------- proxies


def _receiver_ref(receiver: Any) -> Any:
    """A weak reference to a receiver, so that a trace never keeps one alive."""
    try:
        if type(receiver) is MethodType:
            return weakref.WeakMethod(receiver)
        return weakref.ref(receiver)
    except TypeError:  # not weakly referenceable: keep the name only
        return None


class _SyncProxy:
    """Stands in for one receiver during one traced send, and times its call."""

    __slots__ = ("event", "receiver")

    def __init__(self, receiver: Any, event: SignalEvent) -> None:
        self.receiver = receiver
        self.event = event

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        receiver = self.receiver
        call = ReceiverCall(
            self.event, naming.receiver_name(receiver), _receiver_ref(receiver), False
        )
        self.event.receivers.append(call)
        token = _current_call.set(call)
        started = perf_counter()
        try:
            response = receiver(*args, **kwargs)
        except BaseException as error:
            call.exception = error
            raise
        finally:
            call.duration = perf_counter() - started
            _current_call.reset(token)
        call.response = response
        return response

    def __getattr__(self, name: str) -> Any:
        # Django reads receiver.__qualname__ to log send_robust failures; it must
        # get (or fail to get) exactly what the receiver itself has.
        return getattr(self.receiver, name)


class _AsyncProxy(_SyncProxy):
    """The proxy for a coroutine receiver: calling it returns a coroutine."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(args, kwargs)

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        receiver = self.receiver
        event = self.event
        call = ReceiverCall(
            event, naming.receiver_name(receiver), _receiver_ref(receiver), True
        )
        event.receivers.append(call)
        task = asyncio.current_task()
        if task is not None:
            _task_calls[task] = call
        # Set, and later restore to the send's own parent rather than through a
        # token: on Django 6.x sibling receivers share this context and may
        # finish in any order.
        _current_call.set(call)
        started = perf_counter()
        try:
            response = await receiver(*args, **kwargs)
        except BaseException as error:
            call.exception = error
            raise
        finally:
            call.duration = perf_counter() - started
            _current_call.set(event.parent_call)
            if task is not None:
                _task_calls.pop(task, None)
        call.response = response
        return response


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
