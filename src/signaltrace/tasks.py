"""One trace per run of a background task: Django's tasks framework and Celery.

With ``SIGNALTRACE["TRACE_TASKS"]`` on (unset, it follows ``ENABLED``, itself
``DEBUG`` when unset), the app's ``ready()`` calls :func:`start_task_tracing`.
Nothing is added to the tasks, the task backends or the Celery app:

- **Django's tasks framework**: ``django.tasks`` (Django 6.0+) and the
  ``django-tasks`` backport (``django_tasks``, in ``INSTALLED_APPS`` as its
  documentation asks), both when both are there. A task run is traced from
  ``task_started`` to ``task_finished`` (its first and last events), in the
  process that runs it: a worker (``manage.py db_worker`` of django-tasks-db,
  or any backend's), or, with the immediate backend, the process that
  enqueued it, where the enqueuing request's trace records the run's sends
  too. As for requests (:mod:`signaltrace.scopes`), the ``task_enqueued``,
  ``task_started`` and ``task_finished`` Signal instances get send methods
  of their own; no receiver is connected, so ``has_listeners()`` answers as
  before.
- **Celery**, when installed: a task run is traced from ``task_prerun`` to
  ``task_postrun``, in the worker, by receivers of those Celery signals
  (Celery's own, not Django's). An eager run (``task_always_eager``,
  ``apply()``) is traced where it runs.

A run's outcome is the task result's status (``"SUCCESSFUL"``, ``"FAILED"``)
for Django's tasks; for Celery, its final state, ``SUCCESS`` and
``FAILURE`` named the same way (``"SUCCESSFUL"``, ``"FAILED"``), the other
states as Celery names them (``"RETRY"``, ``"IGNORED"``, ``"REJECTED"``).

Each finished trace goes to the history (:func:`signaltrace.history.report`: a
:class:`~signaltrace.history.HistoryEntry` of kind ``"task"``, with the
task's name, id and outcome; with ``HISTORY_STORE = "database"`` a worker's
traces show in the web process's viewer) and to the ``signaltrace`` logger.
A task enqueued while a trace records (``task_enqueued``, Celery's
``after_task_publish``) is noted in that trace's ``tasks``, so that the page
of the request that enqueued it links to the run's trace, by task id.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import logging
import sys
import weakref
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from types import ModuleType
from typing import Any
from uuid import uuid4

from signaltrace import context
from signaltrace.assertions import SignalTrace
from signaltrace.conf import get_config
from signaltrace.failures import note
from signaltrace.history import HistoryEntry, report, wanted
from signaltrace.scopes import Boundary, SendBoundary, Tracing

__all__ = [
    "is_enabled",
    "is_task_tracing",
    "start_task_tracing",
    "stop_task_tracing",
    "task_trace",
]

#: One INFO record per task run, one DEBUG record per send; silent unless the
#: project configures it.
logger = logging.getLogger("signaltrace")

#: Celery's final states, named as Django's tasks framework names them.
_CELERY_OUTCOMES = {"SUCCESS": "SUCCESSFUL", "FAILURE": "FAILED"}
#: Identifies our receivers of Celery's signals.
_DISPATCH_UID = "signaltrace.tasks"


class _Run:
    """A task run being traced."""

    __slots__ = ("id", "name", "outcome", "trace")

    def __init__(self, task_id: str, name: str, trace: SignalTrace) -> None:
        self.id = task_id
        self.name = name
        self.trace = trace
        #: How it ended, once it has.
        self.outcome: str | None = None


#: The task runs traced in the current context, innermost last: a task run
#: inline (immediate backend, eager Celery) may enqueue and run another.
_runs: contextvars.ContextVar[tuple[_Run, ...]] = contextvars.ContextVar(
    "signaltrace_task_runs", default=()
)
# The run of each open trace, which the tracing hands back alone at the end.
# Weak, so that a trace dropped unfinished leaves nothing behind.
_by_trace: weakref.WeakKeyDictionary[SignalTrace, _Run] = weakref.WeakKeyDictionary()
#: The task runs' traces: open while they run, handed on when finished.
_tracing = Tracing("task")


def is_enabled() -> bool:
    """Whether task tracing is wanted: ``TRACE_TASKS``, else as for requests
    (``ENABLED``, else ``DEBUG``)."""
    from signaltrace.middleware import is_enabled as requests_enabled

    wanted = get_config().TRACE_TASKS
    return requests_enabled() if wanted is None else wanted


def start_task_tracing() -> None:
    """Give every run of a background task a trace of its own, until stopped.

    Looks for the task frameworks once, now: ``django.tasks``, the
    ``django_tasks`` backport (when in ``INSTALLED_APPS`` or already
    imported), Celery. Does nothing when task tracing is on already.
    """
    if not _tracing.is_on:
        _tracing.start(_task_finished, _boundaries())


def stop_task_tracing() -> None:
    """Undo :func:`start_task_tracing`; does nothing when it is off.

    The traces of task runs still going are ended where they are, without
    being handed on. Django's signals get their own send methods back and
    the receivers of Celery's signals are disconnected.
    """
    _tracing.stop()
    if _runs.get():
        _runs.set(())


def is_task_tracing() -> bool:
    """Whether :func:`start_task_tracing` is in effect."""
    return _tracing.is_on


def task_trace() -> SignalTrace | None:
    """The trace of the task run going on in the current context, if any."""
    runs = _runs.get()
    if runs and runs[-1].trace.ended_at is None:
        return runs[-1].trace
    return None


# -------------------------------------------------------------- the runs


def _open(task_id: str, name: str, *, room: int) -> None:
    """A task run starts in the current context: open its trace."""
    for stale in _runs.get():
        # The same task started again here: its earlier run never finished.
        if stale.id == task_id:
            _close(stale)
    trace = _tracing.open(room=room)
    if trace is None:
        return
    run = _Run(task_id, name, trace)
    _by_trace[trace] = run
    _runs.set((*(r for r in _runs.get() if r.trace.ended_at is None), run))


def _finishing(task_id: str, outcome: str | None) -> _Run | None:
    """The run of *task_id* in the current context, told how it ended.

    Runs that started inside it and are still open never finished (their
    end was not signalled): they are closed first, their outcome unknown.
    """
    runs = _runs.get()
    for position in range(len(runs) - 1, -1, -1):
        if runs[position].id == task_id:
            break
    else:
        return None
    for inner in reversed(runs[position + 1 :]):
        _close(inner)
    run = runs[position]
    run.outcome = outcome
    return run


def _close(run: _Run) -> None:
    """End a run's trace, take it out of the context, and hand it on."""
    runs = _runs.get()
    if run in runs:
        _runs.set(tuple(r for r in runs if r is not run))
    _tracing.close(run.trace)


def _note_enqueued(name: str, task_id: str) -> None:
    """Note the task in every trace recording here, to link to its run."""
    for trace in context.traces.get():
        # Bounded like the events: a loop enqueuing tasks keeps the first.
        if trace.ended_at is None and len(trace.tasks) < trace.config.MAX_EVENTS:
            trace.tasks.append((name, task_id))


def _task_finished(trace: SignalTrace) -> None:
    """Hand a finished run's trace to the history and the logger."""
    run = _by_trace.pop(trace, None)
    if run is None:
        return
    if not wanted(trace):
        return
    report(
        HistoryEntry(
            trace,
            trace_id=uuid4().hex,
            kind="task",
            name=run.name,
            task_id=run.id,
            outcome=run.outcome,
        )
    )


# ------------------------------------------------- Django's tasks framework


def _django_task(named: dict[str, Any]) -> tuple[str, str] | None:
    """The task id and name of a send of the tasks framework's signals."""
    result: Any = named.get("task_result")
    task = getattr(result, "task", None)
    if task is None:
        return None
    name = getattr(task, "module_path", None) or getattr(task, "name", "")
    return str(result.id), str(name)


def _django_started(sender: Any, named: dict[str, Any]) -> None:
    """At task_started: open the run's trace; this send is its first event."""
    task = _django_task(named)
    if task is not None:
        # Room is kept for task_finished, as a request keeps it.
        _open(*task, room=1)


def _django_finishing(sender: Any, named: dict[str, Any]) -> Callable[[], None] | None:
    """At task_finished: the run's trace records this send, then closes."""
    task = _django_task(named)
    if task is None:
        return None
    status = getattr(named["task_result"], "status", None)
    outcome = None if status is None else str(getattr(status, "value", status))
    run = _finishing(task[0], outcome)
    if run is None or not _tracing.resume(run.trace):
        return None
    return functools.partial(_close, run)


def _django_enqueued(sender: Any, named: dict[str, Any]) -> None:
    """At task_enqueued: note the task in the traces recording here."""
    task = _django_task(named)
    if task is not None:
        _note_enqueued(task[1], task[0])


def _django_signal_modules() -> Iterator[ModuleType]:
    """The ``signals`` modules of the tasks frameworks this project uses."""
    if find_spec("django.tasks") is not None:
        yield importlib.import_module("django.tasks.signals")
    # The backport is looked at only where the project uses it: importing it
    # connects its receivers (to setting_changed, among others).
    if "django_tasks.signals" in sys.modules or _backport_installed():
        yield importlib.import_module("django_tasks.signals")


def _backport_installed() -> bool:
    from django.apps import apps

    return find_spec("django_tasks") is not None and apps.is_installed("django_tasks")


# ------------------------------------------------------------------ Celery


class _CeleryBoundary:
    """Our receivers of Celery's task signals (Celery's ``Signal``, not Django's)."""

    def install(self) -> None:
        signals = importlib.import_module("celery.signals")

        signals.task_prerun.connect(
            _celery_prerun, weak=False, dispatch_uid=_DISPATCH_UID
        )
        signals.task_postrun.connect(
            _celery_postrun, weak=False, dispatch_uid=_DISPATCH_UID
        )
        signals.after_task_publish.connect(
            _celery_published, weak=False, dispatch_uid=_DISPATCH_UID
        )

    def remove(self) -> None:
        signals = importlib.import_module("celery.signals")

        for signal in (
            signals.task_prerun,
            signals.task_postrun,
            signals.after_task_publish,
        ):
            signal.disconnect(dispatch_uid=_DISPATCH_UID)


def _celery_prerun(
    sender: Any = None, task_id: Any = None, task: Any = None, **named: Any
) -> None:
    """Celery starts a task run in this process: open its trace."""
    try:
        name = str(getattr(task, "name", None) or sender)
        if getattr(getattr(task, "request", None), "is_eager", False):
            # Run where it was called: no publish to note it in the caller's
            # traces.
            _note_enqueued(name, str(task_id))
        _open(str(task_id), name, room=0)
    except Exception as error:
        note(context.traces.get(), "opening a Celery task's trace", error)


def _celery_postrun(
    sender: Any = None, task_id: Any = None, state: Any = None, **named: Any
) -> None:
    """Celery has finished a task run: close its trace."""
    try:
        outcome = None if state is None else _CELERY_OUTCOMES.get(state, str(state))
        run = _finishing(str(task_id), outcome)
        if run is not None:
            _close(run)
    except Exception as error:
        note(context.traces.get(), "closing a Celery task's trace", error)


def _celery_published(
    sender: Any = None, body: Any = None, headers: Any = None, **named: Any
) -> None:
    """A task was sent to the broker: note it in the traces recording here."""
    try:
        if not context.traces.get():
            return
        # Message protocol 2 has the id in the headers, protocol 1 in the body.
        message = headers if isinstance(headers, dict) and "id" in headers else body
        if isinstance(message, dict) and message.get("id"):
            _note_enqueued(str(message.get("task") or sender), str(message["id"]))
    except Exception as error:
        note(context.traces.get(), "noting a published Celery task", error)


# -------------------------------------------------------------- boundaries


def _boundaries() -> list[Boundary]:
    """Where task runs start and end, for each task framework found."""
    found: list[Boundary] = []
    for signals in _django_signal_modules():
        found += [
            SendBoundary(
                signals.task_enqueued, _django_enqueued, "noting an enqueued task"
            ),
            SendBoundary(
                signals.task_started, _django_started, "opening a task's trace"
            ),
            SendBoundary(
                signals.task_finished, _django_finishing, "closing a task's trace"
            ),
        ]
    if find_spec("celery") is not None:
        found.append(_CeleryBoundary())
    return found
