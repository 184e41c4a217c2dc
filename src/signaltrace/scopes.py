"""Traces that sends open and close: one per request, one per run of a task.

Django sends a signal at each end of the units that deserve a trace of their
own: ``request_started`` and ``request_finished`` around a request,
``task_started`` and ``task_finished`` around a run of a background task. A
receiver cannot open and close a trace there without changing the program:
it would make ``has_listeners()`` true and show in every trace. So while such
tracing is on, those Signal instances get send methods of their own
(:class:`SendBoundary`: instance attributes, shadowing the class's) that run
a hook before the class-level send, and what the hook handed back after it.
Nothing is connected, and the send itself is Django's (or the recorder's,
while it is installed).

A :class:`Tracing` holds the traces its hooks opened: each records in the
context that opened it (inside any active capture), the recorder's wrappers
stay on ``Signal`` while any is open (:func:`signaltrace.install.acquire`),
and each is handed on to the callables given to :meth:`Tracing.start` when it
is closed. Between them (a management command, start-up, a test outside a
request) every send is Django's own.

Recording never fails the program: a hook, a boundary or a callable that
fails is noted (:func:`signaltrace.failures.note`) and the send goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from django.dispatch import Signal

from signaltrace import context, install
from signaltrace.assertions import SignalTrace
from signaltrace.capturing import end
from signaltrace.conf import get_config
from signaltrace.failures import note

__all__ = ["Boundary", "Hook", "SendBoundary", "Tracing"]

#: Runs before a boundary's send, given the send's sender and its named
#: arguments (not to be changed); what it returns, if not None, is called
#: after the send, whether the send returned or raised.
Hook = Callable[[Any, dict[str, Any]], Callable[[], None] | None]

#: The send methods a boundary takes over, where this Django has them (4.2
#: has no ``asend``/``asend_robust``).
SEND_METHODS = ("send", "send_robust", "asend", "asend_robust")


class Boundary(Protocol):
    """Where traces are opened and closed, put in place while tracing is on."""

    def install(self) -> None:
        """Start calling the hooks."""

    def remove(self) -> None:
        """Stop calling them; the program is as it was before :meth:`install`."""


class SendBoundary:
    """*hook* around every send of one Signal instance.

    Arguments:
        signal: the Signal whose sends open or close a trace.
        hook: see :data:`Hook`.
        stage: what the hook does, in words, for the failure notes
            (``"opening a request's trace"``).

    Installed, the signal's send methods are instance attributes calling the
    hook, then the class-level method, looked up at each call, so that
    whatever wraps ``Signal`` (the recorder, or another tool after it) still
    runs.
    """

    def __init__(self, signal: Signal, hook: Hook, stage: str) -> None:
        self.signal = signal
        self.hook = hook
        self.stage = stage
        #: The methods installed, by name, while installed.
        self._methods: dict[str, Callable[..., Any]] = {}

    def install(self) -> None:
        """Give the signal send methods of its own."""
        for name in SEND_METHODS:
            if hasattr(Signal, name) and name not in self._methods:
                method = self._method(name)
                setattr(self.signal, name, method)
                self._methods[name] = method

    def remove(self) -> None:
        """Take them off again (one that something else replaced stays put)."""
        for name, method in self._methods.items():
            if self.signal.__dict__.get(name) is method:
                delattr(self.signal, name)
        self._methods.clear()

    def _before(self, sender: Any, named: dict[str, Any]) -> Callable[[], None] | None:
        try:
            return self.hook(sender, named)
        except Exception as error:
            note(context.traces.get(), self.stage, error)
            return None

    def _after(self, after: Callable[[], None]) -> None:
        try:
            after()
        except Exception as error:
            note(context.traces.get(), self.stage, error)

    def _method(self, name: str) -> Callable[..., Any]:
        signal = self.signal
        before = self._before
        finish = self._after

        if name.startswith("a"):

            async def async_boundary(sender: Any, **named: Any) -> Any:
                after = before(sender, named)
                try:
                    return await getattr(type(signal), name)(signal, sender, **named)
                finally:
                    if after is not None:
                        finish(after)

            return async_boundary

        def boundary(sender: Any, **named: Any) -> Any:
            after = before(sender, named)
            try:
                return getattr(type(signal), name)(signal, sender, **named)
            finally:
                if after is not None:
                    finish(after)

        return boundary


class Tracing:
    """The traces of one kind of unit (requests, task runs), opened by hooks.

    Arguments:
        what: what a trace is of, in a word, for the failure notes
            (``"request"``, ``"task"``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        #: Called with each finished trace, in the order they were added;
        #: empty while this tracing is off. A tuple, replaced rather than
        #: changed, so that a trace closing on another thread reads it
        #: without the lock.
        self._on_finish: tuple[Callable[[SignalTrace], None], ...] = ()
        #: The boundaries installed by start().
        self._boundaries: list[Boundary] = []
        #: The traces open, each holding the wrappers installed (acquire()).
        self._open: set[SignalTrace] = set()

    @property
    def is_on(self) -> bool:
        """Whether :meth:`start` is in effect."""
        return bool(self._on_finish)

    def start(
        self, on_finish: Callable[[SignalTrace], None], boundaries: Iterable[Boundary]
    ) -> None:
        """Install *boundaries*, and pass each trace closed to *on_finish*.

        Calling it again while on adds *on_finish* to the callables each
        finished trace is passed to, in the order they were added (one
        already there is not added twice); *boundaries* are installed only
        the first time. *on_finish* should not raise: it runs where the unit
        ends (inside ``response.close()``, a worker's loop).
        """
        with self._lock:
            if on_finish in self._on_finish:
                return
            first = not self._on_finish
            self._on_finish = (*self._on_finish, on_finish)
            if not first:
                return
            for boundary in boundaries:
                try:
                    boundary.install()
                except Exception as error:
                    note((), f"starting {self.what} tracing", error)
                    continue
                self._boundaries.append(boundary)

    def stop(self) -> None:
        """Undo :meth:`start`; does nothing when off.

        The traces still open are ended where they are, without being handed
        on: they record nothing more.
        """
        with self._lock:
            if not self._on_finish:
                return
            self._on_finish = ()
            for boundary in self._boundaries:
                try:
                    boundary.remove()
                except Exception as error:
                    note((), f"stopping {self.what} tracing", error)
            self._boundaries.clear()
            in_flight = list(self._open)
        for trace in in_flight:
            self.close(trace, hand_on=False)

    def open(self, *, room: int = 0) -> SignalTrace | None:
        """Start a trace recording in the current context; None when off.

        It records inside any active trace (a capture, the request that ran
        the task inline). *room* events are kept back (see :meth:`resume`),
        so that a unit that sends more than ``MAX_EVENTS`` signals still
        shows how it ended.
        """
        trace = SignalTrace(get_config())
        trace.max_events = max(trace.max_events - room, 0)
        with self._lock:
            if not self._on_finish:  # stopped meanwhile
                return None
            self._open.add(trace)
            install.acquire()
        # Ended traces are left out: a capture that began before an earlier
        # unit ended restores, when it exits, the stack it started with.
        context.traces.set(
            (*(t for t in context.traces.get() if t.ended_at is None), trace)
        )
        return trace

    def resume(self, trace: SignalTrace) -> bool:
        """Make *trace* record the send that closes it; False when it has ended.

        The room kept back by :meth:`open` is given back, and the trace is
        put back in the current context if a capture that exited in between
        dropped it.
        """
        if trace.ended_at is not None:
            return False
        trace.max_events = trace.config.MAX_EVENTS
        active = context.traces.get()
        if trace not in active:
            context.traces.set((*active, trace))
        return True

    def close(self, trace: SignalTrace, *, hand_on: bool = True) -> None:
        """End *trace*, release the wrappers it held, and hand it on.

        A trace this tracing no longer holds (closed already, or left open
        when it stopped) is ended, not handed on.
        """
        if trace.ended_at is None:
            end(trace)
        else:  # ended by stop(), perhaps on another thread
            active = context.traces.get()
            if trace in active:
                context.traces.set(tuple(t for t in active if t is not trace))
        with self._lock:
            held = trace in self._open
            self._open.discard(trace)
            if held:
                install.release()
        if not (hand_on and held):
            return
        for on_finish in self._on_finish:
            try:
                on_finish(trace)
            except Exception as error:
                note((), f"handing on a {self.what}'s trace", error)
