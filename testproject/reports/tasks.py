"""The report build as a task of Django's tasks framework.

``django.tasks`` on Django 6.0+, the ``django-tasks`` backport before;
imported by :mod:`reports.background` only when one of them is installed.
"""

from __future__ import annotations

from importlib.util import find_spec

from . import building

if find_spec("django.tasks") is not None:
    from django.tasks import task
else:
    from django_tasks import task


@task
def build_report(report_id: int) -> None:
    """Build the report outside the request that asked for it."""
    building.build_report(report_id)
