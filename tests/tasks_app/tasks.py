"""The tasks of Django's tasks framework: ``django.tasks`` where Django has it
(6.0+), else the ``django-tasks`` backport."""

from __future__ import annotations

from importlib.util import find_spec

from tests.tasks_app import work

if find_spec("django.tasks") is not None:
    from django.tasks import task
else:
    from django_tasks import task  # type: ignore[no-redef]

#: The module whose signals these tasks send.
FRAMEWORK = "django.tasks" if find_spec("django.tasks") is not None else "django_tasks"


@task
def file_author(name: str) -> int:
    return work.file_author(name)


@task
def fail(name: str) -> None:
    work.fail(name)


@task
def file_then_enqueue(name: str) -> int:
    """File *name*, then enqueue the filing of its co-author."""
    filed = work.file_author(name)
    file_author.enqueue(f"{name}'s co-author")
    return filed


@task
def chatter(times: int) -> None:
    work.chatter(times)
