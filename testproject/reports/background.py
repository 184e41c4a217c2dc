"""Run the report build in the background, with what this site offers.

The build is a task of Django's tasks framework: ``django.tasks`` (Django
6.0+) or its ``django-tasks`` backport. The demo's settings give it
django-tasks-db's database backend when installed (the dev extra), and
``make demo`` runs its worker (``manage.py db_worker``) beside runserver: the
build runs there, traced in a trace of its own, which the viewer links from
the request that asked for the report. With the immediate backend the task
runs in-process at once; without a tasks framework the build is called
directly. Either way after the commit.
"""

from __future__ import annotations

from importlib.util import find_spec

from .building import build_report

#: Whether this Django has the tasks framework built in (6.0+).
HAS_TASKS = find_spec("django.tasks") is not None
#: The tasks framework the build runs on: Django's, the backport, or None.
TASKS_FRAMEWORK = (
    "django.tasks"
    if HAS_TASKS
    else "django_tasks"
    if find_spec("django_tasks") is not None
    else None
)


def enqueue_build(report_id: int) -> None:
    """Hand the build of *report_id* to the task queue, or run it now."""
    if TASKS_FRAMEWORK is not None:
        from .tasks import build_report as build_report_task

        build_report_task.enqueue(report_id)
    else:
        build_report(report_id)


def runs_on_a_worker() -> bool:
    """Whether the build runs on a worker process (the database backend)."""
    from django.conf import settings

    backend = getattr(settings, "TASKS", {}).get("default", {}).get("BACKEND", "")
    return TASKS_FRAMEWORK is not None and backend.startswith("django_tasks_db.")
