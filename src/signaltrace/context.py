"""What records in the current context: the active traces and the send in progress.

Everything here lives in context variables (:mod:`contextvars`), never in
thread locals: concurrent requests in threads and in asyncio tasks each see
only their own traces, and a task or a ``sync_to_async`` thread started
inside a capture records into it.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from signaltrace.trace import ReceiverCall, SignalEvent, Trace

__all__ = ["active_traces", "current_call", "pop", "push"]

#: The traces recording in the current context (innermost last). A tuple, so
#: that contexts copied into threads and tasks never share a mutable stack.
traces: contextvars.ContextVar[tuple[Trace, ...]] = contextvars.ContextVar(
    "signaltrace_traces", default=()
)
#: The recorded send in progress in the current context. A send made from
#: inside one of its receivers finds its parent here: the event's running
#: sync receiver call, or the async call of the current task.
sending: contextvars.ContextVar[SignalEvent | None] = contextvars.ContextVar(
    "signaltrace_sending", default=None
)
#: The async receiver call running in the current context; threads started by
#: ``sync_to_async`` inside an async receiver inherit it.
async_call: contextvars.ContextVar[ReceiverCall | None] = contextvars.ContextVar(
    "signaltrace_async_call", default=None
)
#: Async receiver calls by task. Django 6.x runs concurrent async receivers as
#: tasks sharing one context, where a context variable cannot tell them apart.
#: A plain dict (each entry is removed when its call ends), so that an empty
#: one lets current_call() skip the task lookup cheaply.
task_calls: dict[asyncio.Task[Any], ReceiverCall] = {}


def active_traces() -> tuple[Trace, ...]:
    """The traces recording in the current context, outermost first."""
    return traces.get()


def push(trace: Trace) -> contextvars.Token[tuple[Trace, ...]]:
    """Make *trace* record in the current context (inside any active trace)."""
    return traces.set((*traces.get(), trace))


def pop(token: contextvars.Token[tuple[Trace, ...]]) -> None:
    """Undo :func:`push`."""
    traces.reset(token)


def current_call() -> ReceiverCall | None:
    """The receiver call running in this context or task, if any."""
    event = sending.get()
    if event is None:
        return None
    if task_calls:
        loop = asyncio._get_running_loop()
        if loop is not None:
            task = asyncio.current_task(loop)
            if task is not None:
                call = task_calls.get(task)
                if call is not None:
                    return call
        call = async_call.get()
        if call is not None and call.event is event:
            return call
    return event._running
