from __future__ import annotations

from django.apps import AppConfig


class ForgottenConfig(AppConfig):
    """Forgets to import its receivers in ready(): the bug W001 reports."""

    name = "tests.checks_apps.forgotten"
    label = "checks_forgotten"
