"""The Django app: it hosts the command, the templates and the system checks.

It installs nothing on ``Signal`` at start-up: tracing starts with a capture or
the middleware.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core.checks import register


class SignalTraceConfig(AppConfig):
    """``"signaltrace"`` in ``INSTALLED_APPS``."""

    name = "signaltrace"
    verbose_name = "Signal trace"

    def ready(self) -> None:
        """Register the system checks (see :mod:`signaltrace.checks`)."""
        from signaltrace import checks

        for check in (
            checks.check_dispatcher_verified,
            checks.check_unimported_receiver_modules,
            checks.check_duplicate_receivers,
            checks.check_collectable_receivers,
        ):
            register(check, "signals")
