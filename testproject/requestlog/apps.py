"""Request logging: a middleware and the request signals (scenario 8)."""

from __future__ import annotations

from django.apps import AppConfig


class RequestLogConfig(AppConfig):
    """Connects the receivers of :mod:`requestlog.receivers`.

    The middleware, ``requestlog.middleware.RequestLogMiddleware``, goes in
    ``MIDDLEWARE``.
    """

    name = "requestlog"
    verbose_name = "Request log"

    def ready(self) -> None:
        from django.core.signals import (
            got_request_exception,
            request_finished,
            request_started,
        )

        from . import receivers

        request_started.connect(receivers.start_request)
        request_finished.connect(receivers.finish_request)
        got_request_exception.connect(receivers.record_exception)
