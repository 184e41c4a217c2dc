"""The Django app: it hosts the command, the templates and the system checks.

It installs nothing on ``Signal`` at start-up (tracing starts with a capture or
the middleware), unless ``SIGNALTRACE["OPENTELEMETRY"]`` is on: then every
send made while an OpenTelemetry span is recording is exported, from the
start (see :mod:`signaltrace.opentelemetry`).
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core.checks import register
from django.core.exceptions import ImproperlyConfigured

from signaltrace.conf import get_config


class SignalTraceConfig(AppConfig):
    """``"signaltrace"`` in ``INSTALLED_APPS``."""

    name = "signaltrace"
    verbose_name = "Signal trace"

    def ready(self) -> None:
        """Register the system checks (see :mod:`signaltrace.checks`), start
        the OpenTelemetry export when it is on, and task tracing when it is
        (see :mod:`signaltrace.tasks`)."""
        from signaltrace import checks

        for check in (
            checks.check_dispatcher_verified,
            checks.check_unimported_receiver_modules,
            checks.check_duplicate_receivers,
            checks.check_collectable_receivers,
        ):
            register(check, "signals")
        if get_config().OPENTELEMETRY:
            try:
                from signaltrace import opentelemetry
            except ImportError as error:
                raise ImproperlyConfigured(
                    'SIGNALTRACE["OPENTELEMETRY"] needs the OpenTelemetry API: '
                    "pip install 'django-signaltrace[opentelemetry]'."
                ) from error
            opentelemetry.enable()
        from signaltrace import tasks

        if tasks.is_enabled():
            tasks.start_task_tracing()
