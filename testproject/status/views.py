"""The status page: an async view."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .checks import CheckResult
from .signals import health_check


async def status(request: HttpRequest) -> TemplateResponse:
    """Ask every health check, without blocking the event loop.

    A TemplateResponse, because the template reads the session and the user
    (database queries): Django renders it in a thread after the view returns.
    """
    if hasattr(health_check, "asend"):
        responses = await health_check.asend(sender=None)
    else:  # Django 4.2 has no asend
        responses = await sync_to_async(health_check.send)(sender=None)
    results = [result for _, result in responses if isinstance(result, CheckResult)]
    return TemplateResponse(
        request,
        "status/status.html",
        {"results": sorted(results, key=lambda result: result.name)},
    )
