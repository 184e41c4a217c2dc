from __future__ import annotations

from django.apps import AppConfig


class WiredConfig(AppConfig):
    """Imports its receivers in ready(), as it should."""

    name = "tests.checks_apps.wired"
    label = "checks_wired"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
