"""Receivers of the request log, connected in :meth:`RequestLogConfig.ready`."""

from __future__ import annotations

import sys
from typing import Any

from django.http import HttpRequest

from . import log


def start_request(
    sender: type,
    environ: dict[str, Any] | None = None,
    scope: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Start timing: WSGI handlers send ``environ``, ASGI handlers ``scope``."""
    if environ is not None:
        log.start(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
    elif scope is not None:
        log.start(scope.get("method", ""), scope.get("path", ""))


def finish_request(sender: type, **kwargs: Any) -> None:
    """Stop timing and keep the record: the response has been sent."""
    log.finish()


def record_exception(
    sender: object, request: HttpRequest | None, **kwargs: Any
) -> None:
    """Note what the view raised (Django sends this while handling it)."""
    record = log.current()
    error = sys.exc_info()[1]
    if record is not None and error is not None:
        record.error = f"{type(error).__name__}: {error}"
