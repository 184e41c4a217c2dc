"""The standalone viewer: recent requests and their traces, without the toolbar.

::

    urlpatterns = [
        path("__signaltrace__/", include("signaltrace.urls")),
        # ...
    ]

Every page answers 404 unless ``DEBUG`` is on and the request passes the
``SHOW_VIEWER`` check (by default :func:`show_viewer`: staff users, and
requests from ``INTERNAL_IPS``), so including the URLs in production shows
nothing to anyone. The pages work from the history's plain data only and
load one stylesheet from the viewer itself: no inline script or style, so a
strict Content-Security-Policy does not get in the way, and no dependency on
``django.contrib.staticfiles`` being set up (an ASGI server does not serve it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.static import serve

from signaltrace import request_scope
from signaltrace.conf import get_config
from signaltrace.history import HistoryEntry, history
from signaltrace.waterfall import html_context

__all__ = ["show_viewer", "stylesheet", "trace_detail", "trace_list"]

_STATIC_DIR = Path(__file__).parent / "static" / "signaltrace"


def show_viewer(request: HttpRequest) -> bool:
    """The default ``SHOW_VIEWER`` check: active staff, or an ``INTERNAL_IPS`` address.

    Staff are let in from anywhere, the way the admin does; an address in
    ``INTERNAL_IPS`` is enough for projects without authentication (an API
    on a developer's machine).
    """
    user = getattr(request, "user", None)
    if getattr(user, "is_active", False) and getattr(user, "is_staff", False):
        return True
    return request.META.get("REMOTE_ADDR") in settings.INTERNAL_IPS


def _allow(request: HttpRequest) -> None:
    """Raise Http404 unless DEBUG is on and the request passes SHOW_VIEWER."""
    if not settings.DEBUG:
        raise Http404("The signal trace viewer is only served when DEBUG is on.")
    setting = get_config().SHOW_VIEWER
    check: Callable[[HttpRequest], Any]
    if setting is None:
        check = show_viewer
    elif isinstance(setting, str):
        check = import_string(setting)
    else:
        check = setting
    if not check(request):
        raise Http404("Not allowed by SIGNALTRACE['SHOW_VIEWER'].")


def _started(entry: HistoryEntry) -> datetime:
    return datetime.fromtimestamp(entry.started_at, tz=timezone.utc)


@never_cache
def trace_list(request: HttpRequest) -> HttpResponse:
    """List the requests in the history, newest first."""
    _allow(request)
    entries = [
        {
            "id": entry.id,
            "method": entry.method,
            "path": entry.path,
            "status": entry.status,
            "started": _started(entry),
            "sends": entry.sends,
            "receiver_calls": entry.receiver_calls,
            "errors": entry.errors,
            "dropped": entry.dropped,
            "signal_ms": entry.signal_ms,
            "duration_ms": entry.duration_ms,
        }
        for entry in history.entries()
    ]
    context = {
        "entries": entries,
        "tracing": request_scope.is_request_tracing(),
        "size": history.size,
    }
    return render(request, "signaltrace/list.html", context)


@never_cache
def trace_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    """Show one request's trace as a tree (the same component as the toolbar panel)."""
    _allow(request)
    entry = history.get(trace_id)
    if entry is None:
        raise Http404("No such trace: it may have left the history.")
    context = {
        "entry": entry,
        "started": _started(entry),
        "signal_trace": html_context(
            entry.trace.to_dict(), slow_ms=get_config().SLOW_RECEIVER_MS
        ),
    }
    return render(request, "signaltrace/detail.html", context)


def stylesheet(request: HttpRequest) -> HttpResponseBase:
    """Serve the viewer's stylesheet (also shipped as a static file for the panel)."""
    _allow(request)
    return serve(request, "signaltrace.css", document_root=str(_STATIC_DIR))
