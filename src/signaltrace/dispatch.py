"""The send wrappers: how a send is recorded while Django dispatches it.

The receivers are always looked up by Django's own ``Signal._live_receivers``
(sender filters, weak references, caching, dead receivers), and called in
Django's order with Django's arguments. Two ways, both filling the records of
:mod:`signaltrace.trace`:

- ``send()`` (and ``send_robust()`` from Django 5.0) to sync receivers only,
  on a Django whose methods :mod:`signaltrace.install` verified: the wrapper
  runs the loop Django's method runs and times each call as it makes it. This
  is the hot path: model and request signals.
- Every other send: the wrapper notes the send in progress and calls Django's
  own method. Django then asks the signal's ``_live_receivers`` for the
  receivers, which for that send only hands back thin proxies that time each
  call and record its outcome: while a send of a signal is followed, the
  signal *instance* has a ``_live_receivers`` of its own (:func:`_hook`),
  which asks the class's (Django's, a subclass's, another tool's) and wraps
  what it answers. When Django's method returns, the proxies in the
  ``(receiver, response)`` pairs are swapped back for the receivers. Order,
  concurrency, error handling and logging stay Django's. ``Signal``'s own
  ``_live_receivers`` is never replaced: every other send of the process
  looks its receivers up as without signaltrace.

The one other shortcut: a send that Django's method would answer with ``[]``
at its first line (no receiver can be reached) is counted and answered here.

Values are described when the signal is sent (before the send is timed) and
when each receiver returns (after its call is timed). A send made from inside
a receiver measures the time signaltrace spent recording it, and takes it off
the durations of the call and the send it was made from.

Recording never fails the program: an error in the work of this module is
contained, noted in the trace (``Trace.recording_errors``) and logged once,
and the send goes on as Django's would.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import weakref
from collections.abc import Callable, Collection, Coroutine, Mapping
from pathlib import Path
from threading import get_ident
from time import perf_counter
from types import CodeType, FrameType, MethodType
from typing import Any

from django.db.models.signals import pre_init
from django.dispatch import Signal, dispatcher
from django.dispatch.dispatcher import NO_RECEIVERS

from signaltrace import naming, queries
from signaltrace.context import async_call, current_call, sending, task_calls, traces
from signaltrace.failures import note
from signaltrace.naming import receiver_info, receiver_infos
from signaltrace.sources import origin
from signaltrace.trace import ReceiverCall, SignalEvent, Trace
from signaltrace.values import Describer, ErrorInfo

__all__ = ["is_djangos", "make_wrappers"]

#: The send methods wrapped.
SEND_METHODS = ("send", "send_robust", "asend", "asend_robust")
_ROBUST_METHODS = frozenset({"send_robust", "asend_robust"})

#: Where each file's code comes from (see signaltrace.sources.origin, and
#: "own" for signaltrace's), by file name: asked for every frame between a
#: send and the user's code, at every recorded send.
_origins: dict[str, str] = {}
# CAPTURE_STACKS: the recorder's own frames are left out of a stack, and a
# stack keeps at most this many frames (a request through the toolbar and a
# dozen middleware is about a hundred deep).
_OWN_DIR = str(Path(__file__).parent) + "/"
_STACK_LIMIT = 128
#: Stacks are kept for this many events of a trace at most: a request that
#: sends thousands of signals would otherwise hold megabytes of frames.
STACKED_EVENTS_LIMIT = 1_000

#: Named in place of a receiver whose name could not be worked out.
_UNKNOWN_RECEIVER = naming.ReceiverInfo("<unknown receiver>", None)
#: Shown in place of a value that could not be described.
NOT_DESCRIBED = "<not described>"

_enter_thread = queries.enter_thread
_entered_threads = queries.entered_threads


def is_djangos(method: Callable[..., Any]) -> bool:
    """Whether *method* is Django's own, not another tool's wrapper of it."""
    code = getattr(method, "__code__", None)
    return code is not None and code.co_filename == dispatcher.__file__


def make_wrappers(
    originals: Mapping[str, Callable[..., Any]], direct: Collection[str]
) -> dict[str, Callable[..., Any]]:
    """The wrappers of the send methods in *originals*.

    *originals* holds ``Signal``'s ``_live_receivers`` too, which is not
    wrapped. *direct* names the send methods whose loop the wrapper may run
    itself (verified against this Django by :mod:`signaltrace.install`).
    """
    original_live = originals["_live_receivers"]
    # Django's own lookup, to call from the loop; None when another tool
    # wrapped it before us (its wrapper must run: Django's method runs then).
    djangos_live = original_live if is_djangos(original_live) else None
    wrappers: dict[str, Callable[..., Any]] = {}
    for name in SEND_METHODS:
        original = originals.get(name)
        if original is None:  # Django 4.2 has no asend/asend_robust.
            continue
        if name.startswith("a"):
            wrappers[name] = _async_wrapper(original)
        else:
            lookup = djangos_live if name in direct else None
            wrappers[name] = _sync_wrapper(original, lookup)
    return wrappers


def _sync_wrapper(
    original: Callable[..., Any],
    djangos_live: Callable[[Signal, object], Any] | None,
) -> Callable[..., Any]:
    """The wrapper of ``send`` or ``send_robust``.

    With *djangos_live* (the method is Django's own, verified, and so is its
    lookup), it runs Django's loop itself: look the receivers up once with
    ``_live_receivers()``, call each in order with ``signal=``, ``sender=``
    and the named arguments, and return the ``(receiver, response)`` pairs in
    a new list; ``send()`` lets any error propagate, ``send_robust()`` logs an
    ``Exception`` with ``self._log_robust_failure()`` and makes it the
    response. A traceback through a receiver has the wrapper's frame where
    Django's would be, and nothing more. Sends with async receivers, and
    Signal subclasses with a lookup of their own, are left to Django's method.
    """
    method = original.__name__
    robust = method == "send_robust"
    skippable = is_djangos(original)  # Django's first line answers []

    @functools.wraps(original)
    def traced(self: Signal, sender: object, **named: Any) -> Any:
        active = traces.get()
        if not active:
            return original(self, sender, **named)
        # Django's own first test, as each of its send methods starts with it.
        if (
            not self.receivers
            or self.sender_receivers_cache.get(sender) is NO_RECEIVERS
        ):
            _unreached(self, active, method, sender, named)
            return [] if skippable else original(self, sender, **named)
        try:
            event = _begin(self, active, method, sender, named)
        except Exception as error:
            note(active, "starting the record of a send", error)
            event = None
        if event is None:
            return original(self, sender, **named)
        token = sending.set(event)
        spent = 0.0  # how long the receivers of the loop below ran
        try:
            lookup = self._live_receivers
            if (
                djangos_live is None
                or type(lookup) is not MethodType
                or lookup.__func__ is not djangos_live
            ):
                # A lookup other than Django's (a subclass's, another tool's,
                # the instance's own, or ours while a send of it is followed).
                return _follow(event, active, original, self, sender, named)
            receivers: Any = djangos_live(self, sender)
            if type(receivers) is tuple:  # Django 5.0+: (sync, async)
                if receivers[1]:
                    return _follow(
                        event, active, original, self, sender, named, receivers
                    )
                receivers = receivers[0]
            event.started_at = perf_counter()
            keep = event.live_kwargs is not None
            calls = event.receivers
            responses = []
            if get_ident() not in _entered_threads:  # cheaper than the call
                _enter_thread()  # the receivers run their queries in this thread
            for receiver in receivers:
                # A function's name is in the cache; a method's is under its
                # function, where _info() looks.
                info = receiver_infos.get(id(receiver)) or _info(receiver)
                call = ReceiverCall(event, info, False)
                calls.append(call)
                if keep:
                    call._receiver = _reference(receiver)
                # Which receiver is running, for sends made from inside it.
                event._running = call
                call.started_at = called = perf_counter()
                try:
                    response = receiver(signal=self, sender=sender, **named)
                except BaseException as error:
                    elapsed = perf_counter() - called
                    call.duration += elapsed
                    spent += elapsed
                    event._running = None
                    _raised(call, error, active[0].describer, keep)
                    if not (robust and isinstance(error, Exception)):
                        raise
                    self._log_robust_failure(receiver, error)  # type: ignore[attr-defined]
                    responses.append((receiver, error))
                    continue
                elapsed = perf_counter() - called
                call.duration += elapsed
                spent += elapsed
                if response is not None:  # None is its own description
                    _returned(call, response, active[0].describer, keep)
                responses.append((receiver, response))
            event._running = None
            return responses
        except BaseException as error:
            _raised_from_send(event, error, active)
            raise
        finally:
            sending.reset(token)
            event.duration += spent
            if not event.receivers or event.parent_call is not None:
                _finish(event, active, sender)

    return traced


def _async_wrapper(
    original: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The wrapper of ``asend`` or ``asend_robust``: Django's method, followed."""
    method = original.__name__
    skippable = is_djangos(original)  # Django's first line answers []

    @functools.wraps(original)
    async def traced(self: Signal, sender: object, **named: Any) -> Any:
        active = traces.get()
        if not active:
            return await original(self, sender, **named)
        # Django's own first test, as each of its send methods starts with it.
        if (
            not self.receivers
            or self.sender_receivers_cache.get(sender) is NO_RECEIVERS
        ):
            _unreached(self, active, method, sender, named)
            return [] if skippable else await original(self, sender, **named)
        try:
            event = _begin(self, active, method, sender, named)
        except Exception as error:
            note(active, "starting the record of a send", error)
            event = None
        if event is None:
            return await original(self, sender, **named)
        token = sending.set(event)
        _hook(self)
        try:
            event._dispatch = _Following(active[0].describer)
            event.started_at = started = perf_counter()
            try:
                responses = await original(self, sender, **named)
            finally:
                event.duration += perf_counter() - started
            return _unwrap(event, responses)
        except BaseException as error:
            _raised_from_send(event, error, active)
            raise
        finally:
            _unhook(self)
            sending.reset(token)
            event._dispatch = None
            if not event.receivers or event.parent_call is not None:
                _finish(event, active, sender)

    return traced


def _follow(
    event: SignalEvent,
    active: tuple[Trace, ...],
    original: Callable[..., Any],
    signal: Signal,
    sender: object,
    named: dict[str, Any],
    looked_up: Any = None,
) -> Any:
    """Run Django's own send method, its receivers called through proxies.

    *looked_up* is what the wrapper already got from ``_live_receivers()``,
    so that Django's method does not look the receivers up again.
    """
    following = event._dispatch = _Following(active[0].describer)
    following.looked_up = looked_up
    _hook(signal)
    try:
        event.started_at = started = perf_counter()
        try:
            return _unwrap(event, original(signal, sender, **named))
        finally:
            event.duration += perf_counter() - started
    finally:
        _unhook(signal)
        event._dispatch = None


class _Following:
    """How a send followed through Django's own method is going."""

    __slots__ = ("describer", "dispatched", "looked_up")

    def __init__(self, describer: Describer) -> None:
        #: Describes the responses (the outermost trace's settings).
        self.describer = describer
        #: Whether Django's method asked for the receivers yet.
        self.dispatched = False
        #: The receivers the wrapper already looked up, to hand to Django.
        self.looked_up: Any = None


#: The signals whose lookup is hooked while sends of them are followed, by
#: id: the signal, how many of its sends are followed, the lookup Django's
#: method would have called, and whether that was the instance's own.
_hooked: dict[int, list[Any]] = {}
_hooked_lock = threading.Lock()


def _hook(signal: Signal) -> None:
    """Have *signal*'s ``_live_receivers()`` hand proxies to the send followed.

    Set on the instance, never on ``Signal``: a class modified at every send
    would cost every send of the process (see :mod:`signaltrace.install`).
    Other sends of the signal meanwhile (other threads and tasks, or
    ``has_listeners()``) get their receivers through it as they would
    without it (see :func:`_lookup`). Set and removed as an attribute, never
    through the instance's ``__dict__``: reading that makes Python keep the
    instance's attributes in a dict of their own from then on, which slows
    every later send of the signal (by 0.1 µs to 0.2 µs on Python 3.11 and
    3.12).
    """
    with _hooked_lock:
        entry = _hooked.get(id(signal))
        if entry is not None:
            entry[1] += 1
            return
        own: Any = signal._live_receivers  # what Django's method would call
        on_class: Any = type(signal)._live_receivers
        # The class's lookup, bound to the signal (or not, for an object that
        # does not bind), unless the instance has one of its own.
        instances = own is not on_class and not (
            type(own) is MethodType
            and own.__self__ is signal
            and own.__func__ is on_class
        )
        _hooked[id(signal)] = [signal, 1, own, instances]
        signal._live_receivers = functools.partial(_lookup, signal, own)  # type: ignore[method-assign]


def _unhook(signal: Signal) -> None:
    """Undo :func:`_hook` once; the last followed send gives the lookup back."""
    with _hooked_lock:
        entry = _hooked[id(signal)]
        entry[1] -= 1
        if entry[1]:
            return
        del _hooked[id(signal)]
        _signal, _count, own, instances = entry
        if instances:
            signal._live_receivers = own  # type: ignore[method-assign]
        else:
            del signal._live_receivers


def _lookup(signal: Signal, own: Any, sender: object) -> Any:
    """The ``_live_receivers()`` of a signal with a send followed.

    For that send's first lookup (Django's method asking for the receivers to
    call), the receivers *own* gives (the lookup Django's method would have
    called), each behind a proxy; for any other, what *own* gives.
    """
    event = sending.get()
    if event is None or event.signal is not signal:
        # Not the send being followed: another thread's, another task's.
        return own(sender)
    following = event._dispatch
    if following is None or following.dispatched:
        # Not followed (the wrapper runs its loop), or not its first lookup
        # (has_listeners() from a receiver).
        return own(sender)
    following.dispatched = True
    receivers = following.looked_up
    if receivers is None:
        receivers = own(sender)
    else:  # looked up by the send wrapper: not to be kept alive by the record
        following.looked_up = None
    sync_proxy, async_proxy = (
        (_RobustSyncProxy, _RobustAsyncProxy)
        if event.method in _ROBUST_METHODS
        else (_SyncProxy, _AsyncProxy)
    )
    if type(receivers) is tuple:  # Django 5.0+: (sync, async)
        sync_receivers, async_receivers = receivers
        return (
            [sync_proxy(receiver, event) for receiver in sync_receivers],
            [async_proxy(receiver, event) for receiver in async_receivers]
            if async_receivers
            else async_receivers,
        )
    return [sync_proxy(receiver, event) for receiver in receivers]


# ----------------------------------------------------------- the record


def _unreached(
    signal: Signal,
    active: tuple[Trace, ...],
    method: str,
    sender: object,
    named: dict[str, Any],
) -> None:
    """Note a send no receiver can be reached by: Django's method answers it
    with ``[]`` at its first line.

    Each trace counts it (per signal and sender), or records it whole if it
    records unreceived sends (``RECORD_UNRECEIVED``).
    """
    try:
        recording: tuple[Trace, ...] = ()
        for trace in active:
            if trace.ended_at is not None:
                continue
            if trace.config.RECORD_UNRECEIVED:
                recording = (*recording, trace)
            else:
                _count(trace, signal, sender)
        if not recording:
            return
        event = _begin(signal, active, method, sender, named, recording)
        if event is None:
            return
        # Recorded whole: there is nothing to dispatch.
        event.started_at = perf_counter()
        if event.parent_call is not None:
            _take_off(event.parent_call, event.started_at - event._entered)
    except Exception as error:
        note(active, "counting a send", error)


def _begin(
    signal: Signal,
    active: tuple[Trace, ...],
    method: str,
    sender: object,
    named: dict[str, Any],
    wanting: tuple[Trace, ...] | None = None,
) -> SignalEvent | None:
    """Start the record of a send in *wanting* (by default every active trace).

    None when no trace has room for it (the full ones count it dropped).
    Called from the send wrappers (or :func:`_unreached`): the frames above
    are signaltrace's, then the code that made the send. Its location (and
    stack, if a trace wants it) is noted now, while the frame is there to
    read, and its values are described now, before the send is timed.
    """
    if wanting is None:
        wanting = active
    for trace in wanting:
        # A context copied from a capture (a thread started in it) may still
        # hold the trace after the capture ended: it records nothing more.
        if trace.ended_at is not None or len(trace.events) >= trace.max_events:
            room = _with_room(wanting)
            if not room:
                return None
            break
    else:
        room = wanting
    parent = current_call() if sending.get() is not None else None
    entered = perf_counter() if parent is not None else 0.0
    first = active[0]
    describer = first.describer
    frame = sys._getframe(2)
    try:
        where = _location(frame)
    except Exception as error:
        note(active, "locating a send", error)
        where = None
    try:
        sender_name = describer.sender(sender)
        kwargs = describer.kwargs(named)
        if signal is pre_init and "args" in named:
            # The row's values, by position: masked by their fields' names.
            kwargs = {**kwargs, "args": describer.row(sender, named)}
    except Exception as error:
        note(active, "describing a send", error)
        sender_name = NOT_DESCRIBED
        kwargs = dict.fromkeys(named, NOT_DESCRIBED)
    event = SignalEvent(
        signal, method, sender_name, kwargs, where, parent, first.started_at
    )
    for trace in room:
        events = trace.events
        if trace.keep_values and event.live_kwargs is None:
            event.live_kwargs = named
            event._sender = _reference(sender)
        if (
            trace.config.CAPTURE_STACKS
            and event._stack is None
            and len(events) < STACKED_EVENTS_LIMIT
        ):
            try:
                event._stack = _stack(frame)
            except Exception as error:
                note(active, "capturing the stack of a send", error)
        events.append(event)
    if parent is not None:
        event._entered = entered
        children = parent._children
        if children is None:
            parent._children = [event]
        else:
            children.append(event)
    return event


def _with_room(wanting: tuple[Trace, ...]) -> tuple[Trace, ...]:
    """The traces that can still record a send; the full ones count it dropped."""
    room = []
    for trace in wanting:
        if trace.ended_at is not None:
            continue
        if len(trace.events) < trace.max_events:
            room.append(trace)
        else:
            trace.dropped += 1
    return tuple(room)


def _info(receiver: object) -> naming.ReceiverInfo:
    """The name and source of a receiver (a placeholder if naming failed)."""
    try:
        return receiver_info(receiver)
    except Exception as error:
        note(traces.get(), "naming a receiver", error)
        return _UNKNOWN_RECEIVER


def _take_off(parent: ReceiverCall, own: float) -> None:
    """Take the time spent recording a nested send off its parents' durations."""
    parent.duration -= own
    parent.event.duration -= own


def _finish(event: SignalEvent, active: tuple[Trace, ...], sender: object) -> None:
    """Close the record of a send that reached no receiver or was nested.

    The wrappers call it for those only: any other send is complete as it is.
    """
    try:
        if not event.receivers and event.error is None:
            _unreceived(event, active, sender)
        parent = event.parent_call
        if parent is not None:
            # The time spent recording this send is not the receiver's own.
            _take_off(parent, perf_counter() - event._entered - event.duration)
    except Exception as error:
        note(active, "ending the record of a send", error)


def _unreceived(event: SignalEvent, active: tuple[Trace, ...], sender: object) -> None:
    """A send ended without reaching a receiver: count it instead of keeping it.

    Unless a trace records such sends (``RECORD_UNRECEIVED``).
    """
    kept = False
    for trace in active:
        if trace.config.RECORD_UNRECEIVED:
            kept = True
        else:
            _discard(trace.events, event)
            _count(trace, event.signal, sender)
    parent = event.parent_call
    if not kept and parent is not None and parent._children:
        _discard(parent._children, event)


def _discard(events: list[SignalEvent], event: SignalEvent) -> None:
    """Remove *event* from *events*, by identity."""
    for position in range(len(events) - 1, -1, -1):  # it is usually the last
        if events[position] is event:
            del events[position]
            return


def _count(trace: Trace, signal: Signal, sender: object) -> None:
    """Count a send that reached no receiver, per signal and sender."""
    key = (id(signal), id(sender))
    entry = trace._counts.get(key)
    if entry is not None:
        entry[2] += 1
        return
    try:
        sender_name = trace.describer.sender(sender)
    except Exception as error:
        note((trace,), "describing a send", error)
        sender_name = NOT_DESCRIBED
    trace._counts[key] = [signal, sender_name, 1]


def _returned(
    call: ReceiverCall, response: object, describer: Describer, keep: bool
) -> None:
    """Record what a receiver returned (None needs no description)."""
    try:
        call.response = describer.describe(response)
    except Exception as failure:
        note(traces.get(), "describing a response", failure)
        call.response = NOT_DESCRIBED
    if keep:
        call.live_response = response


def _raised(
    call: ReceiverCall, error: BaseException, describer: Describer, keep: bool
) -> None:
    """Record what a receiver raised."""
    call.error = _error(error, describer)
    if keep:
        call.exception = error


def _raised_from_send(
    event: SignalEvent, error: BaseException, active: tuple[Trace, ...]
) -> None:
    """Record the exception propagating out of a send."""
    event.error = _error(error, active[0].describer)
    if event.live_kwargs is not None:
        event.exception = error


def _error(error: BaseException, describer: Describer) -> ErrorInfo:
    """The description of *error*, or its class alone if describing failed."""
    try:
        return describer.error(error)
    except Exception as failure:
        note(traces.get(), "describing an exception", failure)
        cls = type(error)
        return ErrorInfo(
            f"{cls.__module__}.{cls.__qualname__}", cls.__qualname__, NOT_DESCRIBED
        )


def _reference(obj: object) -> Callable[[], Any]:
    """A callable giving *obj* back: weak where Python allows it.

    Bound methods need a WeakMethod: a plain weak reference to one dies at
    once. Objects that cannot be weakly referenced (None, strings, numbers)
    are held as they are.
    """
    try:
        if type(obj) is MethodType:
            return weakref.WeakMethod(obj)
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


# -------------------------------------------------------------- locations


def _location(frame: FrameType | None) -> tuple[CodeType, int] | None:
    """Where a send came from, as the user wants it: their own line.

    The first frame of the project's own code, skipping the top level of the
    script that started the program (``manage.py``: the line of every
    command's sends); else the first frame of an installed package (a
    third-party app sending); else the frame that called the send method
    (Django's, for the signals Django sends itself), past any frame of
    signaltrace's own (a wrapper around the send). Given as the frame's code
    and last instruction, from which :attr:`SignalEvent.location` works out
    the line when it is read.
    """
    first = None  # the caller of the send method, past signaltrace's frames
    package = None
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        kind = _origins.get(filename) or _origins.setdefault(
            filename, _origin(filename)
        )
        if first is None and kind != "own":
            first = frame
        if kind == "project":
            if (
                code.co_name != "<module>"
                or frame.f_globals.get("__name__") != "__main__"
            ):
                return (code, frame.f_lasti)
        elif kind == "package" and package is None:
            package = frame
        frame = frame.f_back
    chosen = package or first
    if chosen is None:
        return None
    return (chosen.f_code, chosen.f_lasti)


def _origin(filename: str) -> str:
    """Whose code *filename* is: "own" (signaltrace's), or its :func:`origin`."""
    return "own" if filename.startswith(_OWN_DIR) else origin(filename)


def _stack(frame: FrameType | None) -> tuple[tuple[CodeType, int, str], ...]:
    """The frames from *frame* outwards, outermost first, without signaltrace's.

    The innermost ``_STACK_LIMIT`` frames are kept: where the send came from
    matters more than how the server reached the view. Lines are worked out
    when the stack is read.
    """
    frames: list[tuple[CodeType, int, str]] = []
    while frame is not None and len(frames) < _STACK_LIMIT:
        code = frame.f_code
        if not code.co_filename.startswith(_OWN_DIR):
            module = frame.f_globals.get("__name__")
            frames.append((code, frame.f_lasti, module if type(module) is str else ""))
        frame = frame.f_back
    frames.reverse()
    return tuple(frames)


# ---------------------------------------------------------------- proxies


def _unwrap(event: SignalEvent, responses: Any) -> Any:
    """Give back Django's list with the proxies replaced by the receivers."""
    if type(responses) is not list:
        return responses
    for position, pair in enumerate(responses):
        receiver = pair[0]
        if type(receiver) in _PROXY_TYPES:
            responses[position] = (receiver.receiver, pair[1])
    return responses


class _Proxy:
    """Stands in for one receiver during one followed send, and times its call.

    For every send the ``send()`` wrapper does not run itself: the other send
    methods, and sends with async receivers.
    """

    __slots__ = ("event", "receiver")

    def __init__(self, receiver: Any, event: SignalEvent) -> None:
        self.receiver = receiver
        self.event = event

    def _call(self, is_async: bool) -> tuple[ReceiverCall, Describer, bool]:
        """Add the record of this call to its send."""
        event = self.event
        following = event._dispatch
        keep = event.live_kwargs is not None
        call = ReceiverCall(event, _info(self.receiver), is_async)
        if keep:
            call._receiver = _reference(self.receiver)
        event.receivers.append(call)
        return call, following.describer, keep


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
        call, describer, keep = self._call(False)
        event = self.event
        # The receiver may run in a thread of its own (sync_to_async): its
        # queries are recorded once that thread's connections are wrapped.
        _enter_thread()
        # Sync receivers of one send run one at a time: the send itself says
        # which one is running, for sends made from inside it.
        event._running = call
        call.started_at = started = perf_counter()
        try:
            response = self.receiver(*args, **kwargs)
        except BaseException as error:
            call.duration += perf_counter() - started
            _raised(call, error, describer, keep)
            raise
        finally:
            event._running = None
        call.duration += perf_counter() - started
        if response is not None:  # None is its own description
            _returned(call, response, describer, keep)
        return response


class _AsyncProxy(_Proxy):
    """The proxy for a coroutine receiver: calling it returns a coroutine."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(args, kwargs)

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call, describer, keep = self._call(True)
        task = asyncio.current_task()
        if task is not None:
            task_calls[task] = call
        # Set and restore without a token: on Django 6.x sibling receivers
        # share this context and may finish in any order. current_call()
        # ignores a value left over from a finished send.
        previous = async_call.get()
        async_call.set(call)
        call.started_at = started = perf_counter()
        try:
            response = await self.receiver(*args, **kwargs)
        except BaseException as error:
            call.duration += perf_counter() - started
            _raised(call, error, describer, keep)
            raise
        finally:
            async_call.set(previous)
            if task is not None:
                task_calls.pop(task, None)
        call.duration += perf_counter() - started
        if response is not None:  # None is its own description
            _returned(call, response, describer, keep)
        return response


class _RobustSyncProxy(_Delegating, _SyncProxy):
    __slots__ = ()


class _RobustAsyncProxy(_Delegating, _AsyncProxy):
    __slots__ = ()


_PROXY_TYPES = frozenset({_SyncProxy, _AsyncProxy, _RobustSyncProxy, _RobustAsyncProxy})
