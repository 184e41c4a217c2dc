"""The part of the request log that needs the request: IP address and status."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import log


class RequestLogMiddleware:
    """Add the client's address and the response status to the request's record.

    The address is ``REMOTE_ADDR``: behind a proxy, read the header it sets
    instead, and only from that proxy.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        record = log.current()
        if record is not None:
            record.ip_address = request.META.get("REMOTE_ADDR")
        response = self.get_response(request)
        if record is not None:
            record.status = response.status_code
        return response
