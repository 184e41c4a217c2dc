"""Run the report build in the background, with what this Django offers.

Django 6.0 brought a tasks framework (``django.tasks``); with its immediate
backend the task still runs in-process, but the code is the code a real queue
needs, and the trace shows ``task_enqueued``, ``task_started`` and
``task_finished``. Older versions call the build directly.
"""

from __future__ import annotations

from importlib.util import find_spec

from .building import build_report

#: Whether this Django has the tasks framework.
HAS_TASKS = find_spec("django.tasks") is not None


def enqueue_build(report_id: int) -> None:
    """Hand the build of *report_id* to the task queue, or run it now."""
    if HAS_TASKS:
        from .tasks import build_report as build_report_task

        build_report_task.enqueue(report_id)
    else:
        build_report(report_id)
