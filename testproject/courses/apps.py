"""Courses: ``m2m_changed`` on enrolments (scenario 5)."""

from __future__ import annotations

from django.apps import AppConfig


class CoursesConfig(AppConfig):
    """Connects the receiver of :mod:`courses.receivers`."""

    name = "courses"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed

        from . import receivers
        from .models import Course

        # The sender of m2m_changed is the intermediate model, not Course.
        m2m_changed.connect(
            receivers.record_enrollments, sender=Course.students.through
        )
