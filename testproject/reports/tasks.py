"""The report build as a task of Django's tasks framework (Django 6.0+ only).

Imported by :mod:`reports.background` only when ``django.tasks`` exists.
"""

from __future__ import annotations

from django.tasks import task

from . import building


@task
def build_report(report_id: int) -> None:
    """Build the report outside the request that asked for it."""
    building.build_report(report_id)
