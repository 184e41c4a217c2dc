"""The database queries each receiver call runs, through Django's execute wrappers.

``connection.execute_wrapper()`` is Django's public hook around every query a
connection runs (ORM and raw cursors alike). The wrapper here asks the
recorder which receiver call is running in the current context and adds the
query's alias, SQL and time to that call's :class:`QueryStats`. It runs no
query of its own, and a query outside any receiver call costs one context
variable lookup.

Connections belong to threads (ASGI runs ORM code in ``sync_to_async``
threads), so the wrapper cannot be installed once for all. While tracing is
on (from the recorder's first :func:`~signaltrace.recorder.acquire` to its
last release, one *generation*), it goes:

- into the connections of a thread when a sync receiver call or a capture
  starts there and the thread has not been seen since tracing started: a receiver
  running in a ``sync_to_async`` thread is tracked from its first query;
- into every connection created while tracing is on (ASGI creates them in a
  fresh thread per request), through ``connections.create_connection``;
- into the connections of asgiref's shared ``sync_to_async`` thread, where
  async code outside a request runs its ORM calls;

and out of every connection it went into when tracing stops, whichever thread
stops it. It is put first in ``execute_wrappers`` (the outermost wrapper), so
that the ``pop()`` of a ``with connection.execute_wrapper(...)`` block entered
before it was installed still removes that block's own wrapper.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from time import perf_counter
from typing import TYPE_CHECKING, Any

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import connections

from signaltrace.context import traces
from signaltrace.failures import note
from signaltrace.sql import MAX_DISTINCT_SQL, QueryStats, normalize_sql, repeated_sql

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from signaltrace.trace import ReceiverCall

__all__ = [
    "MAX_DISTINCT_SQL",
    "QueryStats",
    "enter_thread",
    "entered_threads",
    "is_tracking",
    "normalize_sql",
    "repeated_sql",
    "start",
    "stop",
]

# --------------------------------------------------------------- tracking

_lock = threading.Lock()
_active = False
#: The threads whose connections were wrapped since tracing last started, by
#: ``threading.get_ident()``; emptied at each start and stop (never rebound,
#: so the recorder can test it inline). An ident a dead thread leaves behind
#: may be reused, but only by a thread created later, while tracing was on:
#: all its connections were created then, and wrapped as they were.
entered_threads: set[int] = set()


def _no_call() -> ReceiverCall | None:
    return None


#: The receiver call running in this context (from the recorder).
_current_call: Callable[[], ReceiverCall | None] = _no_call
#: ``connections.create_connection`` as another tool set it on the instance
#: before :func:`start` replaced it; None when it was the class's method.
_create_before: Callable[[str], BaseDatabaseWrapper] | None = None
#: Every connection the wrapper went into during this generation, in any thread.
_wrapped: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()
#: The job queued in asgiref's shared thread (see _enter_shared_thread()).
_shared_job: Future[None] | None = None


def _record(
    execute: Callable[..., Any],
    sql: Any,
    params: Any,
    many: bool,
    context: dict[str, Any],
) -> Any:
    """The execute wrapper: time the query and add it to the running call."""
    call = _current_call()
    if call is None:
        return execute(sql, params, many, context)
    started = perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed = perf_counter() - started
        try:
            stats = call.query_stats
            if stats is None:
                stats = call.query_stats = QueryStats()
            # Anything but text (a psycopg Composed, say) would have to be
            # rendered to be compared; such queries are counted under one label.
            text = sql if type(sql) is str else "<SQL object>"
            stats.add(context["connection"].alias, text, elapsed)
        except Exception as error:  # the query's own outcome must stand
            # The call does not know its traces; the running context does.
            note(traces.get(), "counting a query", error)


def _wrap(connection: BaseDatabaseWrapper) -> None:
    """Put the wrapper first in *connection*'s wrappers, once. Holds ``_lock``."""
    wrappers = connection.execute_wrappers
    if _record not in wrappers:
        wrappers.insert(0, _record)
    _wrapped.add(connection)


def _create_connection(alias: str) -> BaseDatabaseWrapper:
    """``connections.create_connection`` while tracing: new connections are wrapped."""
    if _create_before is not None:
        connection = _create_before(alias)
    else:
        connection = type(connections).create_connection(connections, alias)
    with _lock:
        if _active:
            _wrap(connection)
    return connection


def start(current_call: Callable[[], ReceiverCall | None]) -> None:
    """Begin a generation: track queries for the receiver calls *current_call* gives.

    Called by the recorder when it installs its wrappers on ``Signal``.
    """
    global _active, _create_before, _current_call
    with _lock:
        entered_threads.clear()
        _active = True
        _current_call = current_call
        _create_before = connections.__dict__.get("create_connection")
        connections.create_connection = _create_connection  # type: ignore[method-assign]
    _enter_shared_thread()


def _enter_shared_thread() -> None:
    """Wrap the connections of asgiref's shared ``sync_to_async`` thread.

    Outside a request (``asyncio.run()`` in a script or a test), the ORM calls
    of async code, ``acount()`` in an async receiver say, run in that one
    long-lived thread, where no receiver call starts. Its jobs run in order,
    so queued now, this runs before any query queued later. When the thread
    does not exist yet, its connections will be created, and so wrapped,
    when it runs.

    One job is queued at a time: while the thread is busy (a long job, or one
    that never ends), a generation starting at every request would otherwise
    queue one more each time. A job still waiting runs after this start, and
    wraps the connections for the generation running then.
    """
    global _shared_job
    if _shared_job is not None and not _shared_job.done():
        return
    executor = SyncToAsync.single_thread_executor
    if getattr(executor, "_threads", None):
        with contextlib.suppress(RuntimeError):  # shut down: no more queries
            _shared_job = executor.submit(enter_thread)


def stop() -> None:
    """End the generation: take the wrapper out of every connection it went into."""
    global _active, _create_before
    with _lock:
        entered_threads.clear()
        _active = False
        # Leave it alone if another tool replaced it after us.
        if connections.__dict__.get("create_connection") is _create_connection:
            if _create_before is None:
                del connections.create_connection
            else:
                connections.create_connection = _create_before  # type: ignore[method-assign,assignment]
        _create_before = None
        for connection in list(_wrapped):
            # list.remove() is atomic: the thread owning the connection may be
            # building its wrapper chain meanwhile, and sees it or not.
            while _record in connection.execute_wrappers:
                connection.execute_wrappers.remove(_record)
        _wrapped.clear()


def is_tracking() -> bool:
    """Whether queries are being tracked (tracing is on)."""
    return _active


def enter_thread() -> None:
    """Wrap the current thread's connections if not done since tracing started.

    Called where a sync receiver call or a capture starts: cheap when the
    thread was seen (a set lookup). Threads running an event loop are left
    alone: their connections are per task and run no query there.
    """
    ident = threading.get_ident()
    if ident in entered_threads:
        return
    if asyncio._get_running_loop() is not None:
        return
    try:
        if not settings.configured:
            # A program tracing plain Signals without Django settings has no
            # database, and reading DATABASES would raise.
            return
        with _lock:
            if not _active:
                return
            for connection in connections.all(initialized_only=True):
                _wrap(connection)
            entered_threads.add(ident)
    except Exception as error:  # the receivers run all the same, uncounted
        note(traces.get(), "counting the queries of a thread", error)
