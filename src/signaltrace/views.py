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
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.static import serve

from signaltrace import request_scope
from signaltrace.conf import get_config
from signaltrace.history import KINDS, HistoryEntry, get_store
from signaltrace.redirects import previous_context
from signaltrace.waterfall import html_context

__all__ = ["script", "show_viewer", "stylesheet", "trace_detail", "trace_list"]

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
    """List the traces in the history, newest first: all, or of one kind.

    ``?kind=request``, ``command`` or ``task`` keeps one kind.
    """
    _allow(request)
    kind = request.GET.get("kind") or None
    if kind not in (None, *KINDS):
        kind = None
    entries = [
        {
            "id": entry.id,
            "kind": entry.kind,
            "method": entry.method,
            "path": entry.path,
            "name": entry.name,
            "task_id": entry.task_id,
            "outcome": entry.outcome,
            "status": entry.status,
            "started": _started(entry),
            "sends": entry.sends,
            "receiver_calls": entry.receiver_calls,
            "errors": entry.errors,
            "dropped": entry.dropped,
            "redirected_from": entry.redirected_from,
            "tasks": len(entry.tasks),
            "signal_ms": entry.signal_ms,
            "duration_ms": entry.duration_ms,
        }
        for entry in get_store().entries(kind)
    ]
    config = get_config()
    context = {
        "entries": entries,
        "kind": kind,
        "kinds": [
            {"value": value, "label": label, "current": value == kind}
            for value, label in _KIND_LABELS
        ],
        "tracing": request_scope.is_request_tracing(),
        "size": config.HISTORY_SIZE,
        "store": config.HISTORY_STORE,
    }
    return render(request, "signaltrace/list.html", context)


_KIND_LABELS = (
    (None, "All"),
    ("request", "Requests"),
    ("command", "Commands"),
    ("task", "Tasks"),
)


@never_cache
def trace_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    """Show one trace (the same component as the toolbar panel).

    A request that followed a redirect also shows the sends of the request
    that redirected to it, linked to its page, while the history holds it;
    the request a redirect led to is linked too, and so are the traces of the
    tasks it enqueued, once they ran.
    """
    _allow(request)
    store = get_store()
    entry = store.get(trace_id)
    if entry is None:
        raise Http404("No such trace: it may have left the history.")
    slow_ms = get_config().SLOW_RECEIVER_MS
    before = store.get(entry.redirected_from) if entry.redirected_from else None
    previous = None
    if before is not None:
        previous = previous_context(
            before.data(),
            method=before.method,
            path=before.path,
            status=before.status,
            url=_url(before),
            slow_ms=slow_ms,
        )
    following = store.redirected_from(entry.id) if entry.kind == "request" else None
    tasks = []
    for task in entry.tasks:
        ran = store.for_task(task["id"])
        tasks.append({**task, "url": _url(ran) if ran is not None else None})
    context = {
        "entry": entry,
        "started": _started(entry),
        "signal_trace": html_context(entry.data(), slow_ms=slow_ms),
        "previous": previous,
        "following": following,
        "following_url": _url(following) if following is not None else None,
        "tasks": tasks,
    }
    return render(request, "signaltrace/detail.html", context)


def _url(entry: HistoryEntry) -> str:
    return reverse("signaltrace:detail", kwargs={"trace_id": entry.id})


def stylesheet(request: HttpRequest) -> HttpResponseBase:
    """Serve the viewer's stylesheet (also shipped as a static file for the panel)."""
    _allow(request)
    return serve(request, "signaltrace.css", document_root=str(_STATIC_DIR))


def script(request: HttpRequest) -> HttpResponseBase:
    """Serve the filter's module script (a static file of the panel too)."""
    _allow(request)
    response = serve(request, "filter.js", document_root=str(_STATIC_DIR))
    # A module script must be served as JavaScript, whatever this platform's
    # table of types says about ".js".
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    return response
