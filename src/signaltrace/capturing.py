"""``capture()``: record every signal sent in the current context while a block runs.

Every way signaltrace records goes through it or through the request scope
built on the same pieces: the pytest fixture, ``capture_signals()``, the
TestCase mixin and ``manage.py signaltrace``.
"""

from __future__ import annotations

import time
from types import TracebackType

from signaltrace import context, install, queries
from signaltrace.assertions import SignalTrace
from signaltrace.conf import get_config

__all__ = ["capture", "end"]


class capture:
    """Record every signal sent in the current context while the block runs.

    ::

        with signaltrace.capture() as trace:
            User.objects.create(username="ada")

    The context is the current thread or asyncio task: other threads and tasks
    are not recorded, tasks and threads started inside the block (with the
    context copied) are, until the block ends. Captures nest; an inner
    capture's events are recorded by the outer ones too, each send described
    once, with the outermost capture's settings.

    Arguments:
        record_unreceived: record sends that reached no receiver as full events
            (default: the ``RECORD_UNRECEIVED`` setting, False: they are only
            counted in ``trace.counts``).
        max_events: most events to store (default: the ``MAX_EVENTS`` setting).
        keep_values: also keep the live values (the sender, the keyword
            arguments, responses and exceptions), for tests that compare real
            objects: ``trace.assert_sent(post_save, instance=obj)``. By default
            a trace holds only their descriptions, taken when the signal was
            sent, and keeps nothing of the traced program alive.
    """

    def __init__(
        self,
        *,
        record_unreceived: bool | None = None,
        max_events: int | None = None,
        keep_values: bool = False,
    ) -> None:
        config = get_config().with_overrides(
            RECORD_UNRECEIVED=record_unreceived, MAX_EVENTS=max_events
        )
        #: The trace this capture records into, from the start of the block.
        self.trace = SignalTrace(config, keep_values=keep_values)
        self._entered = False

    def __enter__(self) -> SignalTrace:
        if self._entered:
            raise RuntimeError("A capture records one block: this one was entered.")
        self._entered = True
        trace = self.trace
        trace.started_at = time.perf_counter()
        trace.wall_started = time.time()
        install.acquire()
        # Async code under test often runs its ORM calls in this thread.
        queries.enter_thread()
        context.push(trace)
        return trace

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.trace.ended_at is None:
            end(self.trace)
            install.release()

    async def __aenter__(self) -> SignalTrace:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def end(trace: SignalTrace) -> None:
    """End *trace*: it records nothing more, in this context or any other.

    Taken out of the current context by identity, so that captures ended out
    of order leave the others as they were; a context copied before the end
    (a thread started in the block) still holds it, and it records nothing
    there either, being ended.
    """
    trace.ended_at = time.perf_counter()
    active = context.traces.get()
    if trace in active:
        context.traces.set(tuple(t for t in active if t is not trace))
