"""A task of the ``django-tasks`` backport, on a Django that has its own.

Both frameworks read ``TASKS``; this one is run by the backport's immediate
backend under the ``"backport"`` alias.
"""

from __future__ import annotations

from django_tasks import task

from tests.tasks_app import work


@task(backend="backport")
def file_author(name: str) -> int:
    return work.file_author(name)
