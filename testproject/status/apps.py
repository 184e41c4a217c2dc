"""System status: an async view that awaits ``asend`` (scenario 11)."""

from __future__ import annotations

import django
from django.apps import AppConfig


class StatusConfig(AppConfig):
    """Connects the health checks of :mod:`status.receivers`."""

    name = "status"

    def ready(self) -> None:
        from . import receivers
        from .signals import health_check

        health_check.connect(receivers.check_disk)
        # Django 5.0 awaits coroutine receivers; 4.2 would call them without
        # awaiting, so there the page shows the sync check alone.
        if django.VERSION >= (5, 0):
            health_check.connect(receivers.check_database)
            health_check.connect(receivers.check_cache)
