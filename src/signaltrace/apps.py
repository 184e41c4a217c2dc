"""The Django app: installs nothing at start-up; it hosts the command and templates."""

from __future__ import annotations

from django.apps import AppConfig


class SignalTraceConfig(AppConfig):
    """``"signaltrace"`` in ``INSTALLED_APPS``."""

    name = "signaltrace"
    verbose_name = "Signal trace"
