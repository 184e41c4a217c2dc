"""A Celery app, set up as Celery's documentation sets one up for Django.

Nothing in it knows signaltrace: the worker traces its tasks because
``signaltrace`` is in ``INSTALLED_APPS`` with ``TRACE_TASKS`` on
(:mod:`.worker_settings`). The worker runs it with
``celery -A tests.tasks_app.celery_app worker``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.tasks_app.worker_settings")

app = Celery("tests.tasks_app")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="tests.tasks_app.file_author")
def file_author(name: str) -> int:
    from tests.tasks_app import work  # models load once Django is set up

    return work.file_author(name)


@app.task(name="tests.tasks_app.fail")
def fail(name: str) -> None:
    from tests.tasks_app import work

    work.fail(name)
