"""Reports: heavy work deferred out of a receiver (scenario 10)."""

from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Connects the receiver of :mod:`reports.receivers`."""

    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from . import receivers
        from .models import Report

        post_save.connect(receivers.schedule_build, sender=Report)
