"""One trace per request: every signal from ``request_started`` to ``request_finished``.

::

    MIDDLEWARE = [
        "signaltrace.middleware.SignalTraceMiddleware",
        # ... the rest
    ]

Django sends ``request_started`` before any middleware runs and
``request_finished`` once the server has closed the response, after the
middleware chain returned. So the middleware does not record anything itself:
when the first instance is created (the handler loads its middleware before
its first request) it turns on request tracing
(:func:`signaltrace.request_scope.start_request_tracing`), which installs the
recorder while a request is in flight. The middleware then attaches
each request's trace to ``request.signal_trace``, notes the method, path and
status, and adds an ``X-Signaltrace-Id`` header (with ``X-Signaltrace-Url``
when the viewer's URLs are included). A redirect also names its trace in a
short-lived cookie, so that the viewer's page of the request that follows
shows it (:mod:`signaltrace.redirects`). When the request finishes, its trace
goes to the history and to the ``signaltrace`` logger; the 404s of what
browsers ask for on their own (``/favicon.ico``) are left out.
"""

from __future__ import annotations

import contextlib
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import cast
from uuid import uuid4

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import NoReverseMatch, reverse

from signaltrace import redirects, request_scope
from signaltrace.assertions import SignalTrace
from signaltrace.conf import get_config
from signaltrace.history import HistoryEntry, report, wanted

__all__ = ["ID_HEADER", "URL_HEADER", "SignalTraceMiddleware", "is_enabled"]

#: The response header giving the id of the request's trace: the key of its
#: log records (``signal_trace_id``) and of its page in the viewer.
ID_HEADER = "X-Signaltrace-Id"
#: The response header giving the viewer's URL for that trace: only while the
#: viewer can show it (``DEBUG`` on, its URLs included).
URL_HEADER = "X-Signaltrace-Url"

#: One INFO record per request, one DEBUG record per send; silent unless the
#: project configures it.
logger = logging.getLogger("signaltrace")


def is_enabled() -> bool:
    """Whether request tracing is wanted: ``SIGNALTRACE["ENABLED"]``, else DEBUG."""
    enabled = get_config().ENABLED
    return bool(settings.DEBUG) if enabled is None else enabled


@dataclass
class _Request:
    """What the middleware learnt about a traced request."""

    id: str
    method: str
    path: str
    status: int | None = None
    #: False for the viewer's own pages, which must not fill the history.
    kept: bool = True
    #: The id of the trace whose redirect led here, from the redirect's cookie.
    redirected_from: str | None = None


# The viewer's own pages, and the toolbar's (its panel shows their traces):
# neither belongs in the history.
_UNKEPT_APPS = frozenset({"signaltrace", "djdt"})

# What browsers ask for on their own: answered 404, it is noise in the history.
_BROWSER_PROBES = re.compile(
    r"/(?:favicon\.ico|apple-touch-icon[\w-]*\.png|robots\.txt|\.well-known/.*)"
)

# Keyed by the trace, which request tracing hands back alone at the end.
# Weak, so that a request that never finishes leaves nothing behind.
_requests: weakref.WeakKeyDictionary[SignalTrace, _Request] = (
    weakref.WeakKeyDictionary()
)


class SignalTraceMiddleware:
    """Attach each request's trace to ``request.signal_trace`` and keep it.

    Active when ``SIGNALTRACE["ENABLED"]`` is True, or when it is unset and
    ``DEBUG`` is on; otherwise it raises ``MiddlewareNotUsed`` and Django
    leaves it out. Works under WSGI and ASGI alike. Put it first in
    ``MIDDLEWARE``: a request answered by a middleware above it is not kept,
    and the status it notes is then the one the client gets.

    ``request.signal_trace`` is the request's
    :class:`~signaltrace.assertions.SignalTrace`, still recording; None for a
    request that did not come through a Django handler (a ``RequestFactory``
    request passed to the middleware directly).
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: (
            Callable[[HttpRequest], HttpResponseBase]
            | Callable[[HttpRequest], Awaitable[HttpResponseBase]]
        ),
    ) -> None:
        if not is_enabled():
            raise MiddlewareNotUsed("signaltrace: request tracing is off")
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # Tells Django's handler to await this middleware.
            markcoroutinefunction(self)
        request_scope.start_request_tracing(_request_finished)

    def __call__(
        self, request: HttpRequest
    ) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        trace = _request_started(request)
        get_response = cast(
            "Callable[[HttpRequest], HttpResponseBase]", self.get_response
        )
        response = get_response(request)
        _response_ready(request, response, trace)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        trace = _request_started(request)
        get_response = cast(
            "Callable[[HttpRequest], Awaitable[HttpResponseBase]]", self.get_response
        )
        response = await get_response(request)
        _response_ready(request, response, trace)
        return response


def _request_started(request: HttpRequest) -> SignalTrace | None:
    """Attach the request's trace and give it an id."""
    trace = request_scope.request_trace()
    request.signal_trace = trace  # type: ignore[attr-defined]
    if trace is not None:
        _requests[trace] = _Request(
            uuid4().hex,
            request.method or "",
            request.path,
            redirected_from=redirects.redirected_from(request, cookie=redirects.COOKIE),
        )
    return trace


def _response_ready(
    request: HttpRequest, response: HttpResponseBase, trace: SignalTrace | None
) -> None:
    """Note the status and point the response at its trace."""
    info = _requests.get(trace) if trace is not None else None
    if trace is None or info is None:
        return
    info.status = response.status_code
    if trace.responded_at is None:
        trace.responded_at = perf_counter()  # the sends counted are those before
    match = getattr(request, "resolver_match", None)
    if match is not None and not _UNKEPT_APPS.isdisjoint(match.app_names):
        info.kept = False
        return
    if info.status == 404 and _BROWSER_PROBES.fullmatch(info.path):
        info.kept = False
        return
    response.headers[ID_HEADER] = info.id
    if not settings.DEBUG or not trace.config.HISTORY_SIZE:
        return  # the viewer would answer 404: to everyone, or for this trace
    redirects.remember(request, response, cookie=redirects.COOKIE, key=info.id)
    with contextlib.suppress(NoReverseMatch):  # unless the viewer is included
        response.headers[URL_HEADER] = reverse(
            "signaltrace:detail",
            kwargs={"trace_id": info.id},
            urlconf=getattr(request, "urlconf", None),
        )


def _request_finished(trace: SignalTrace) -> None:
    """Hand a finished request's trace to the history and the logger.

    Runs inside ``response.close()``: a failure here is logged, never raised
    into the server.
    """
    try:
        _keep(trace)
    except Exception:
        logger.exception("signaltrace could not keep a request's trace")


def _keep(trace: SignalTrace) -> None:
    info = _requests.pop(trace, None)
    # Requests the middleware never saw are left out: runserver's static
    # files, for one, are served by a handler that skips the middleware.
    if info is None or not info.kept:
        return
    if not wanted(trace):
        return
    report(
        HistoryEntry(
            trace,
            trace_id=info.id,
            method=info.method,
            path=info.path,
            status=info.status,
            redirected_from=info.redirected_from,
        )
    )
