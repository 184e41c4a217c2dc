"""Redirects followed: the page after a redirect shows the sends of the one before.

A form is POSTed, its view saves and redirects, and the page the browser shows
is the GET that follows: on their own, the panel and the viewer would show
that GET's few sends, while the signals of interest fired in the POST. So a
redirect response sets a short-lived cookie naming its trace, and the request
that follows reads it and shows a summary of that trace, linked to it.
The middleware names its history entries this way (:data:`COOKIE`), the
toolbar panel its store's requests (its own cookie).
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from signaltrace.conf import DEFAULTS
from signaltrace.shown import Shown, shown
from signaltrace.waterfall import MAX_INDENT, html_context

__all__ = [
    "COOKIE",
    "is_redirect",
    "previous_context",
    "redirected_from",
    "remember",
    "summary",
]

#: The cookie a redirect response sets, naming its entry in the history.
COOKIE = "signaltrace_redirected_from"

#: Long enough for a browser to follow a redirect, short enough not to name a
#: request from another visit.
MAX_AGE = 60

#: The most sends listed one by one; the full trace has them all.
MAX_LINES = 100

_ID = re.compile(r"[0-9a-f]{32}")


def is_redirect(response: HttpResponseBase) -> bool:
    """Whether the browser will follow *response* to another URL."""
    return 300 <= response.status_code < 400 and response.has_header("Location")


def remember(
    request: HttpRequest,
    response: HttpResponseBase,
    *,
    cookie: str,
    key: str | None,
) -> None:
    """Name *key* in *cookie* on a redirect response; forget it on any other.

    A response that is not a redirect (or has no *key*) deletes the cookie
    the request brought, so that the page after it is not taken for a
    redirect's target too.
    """
    if key is not None and is_redirect(response):
        response.set_cookie(cookie, key, max_age=MAX_AGE, httponly=True, samesite="Lax")
    elif cookie in request.COOKIES:
        response.delete_cookie(cookie, samesite="Lax")


def redirected_from(request: HttpRequest, *, cookie: str) -> str | None:
    """The key the request's *cookie* names, if it is a well-formed one."""
    key = request.COOKIES.get(cookie, "")
    return key if _ID.fullmatch(key) else None


def summary(split: Shown) -> list[dict[str, Any]]:
    """The sends of a request before its response, one line each.

    Each line is ``{"signal", "name", "sender", "receivers", "depth",
    "indent", "errors", "search"}``: the signal's dotted path and short name,
    the sender, the receivers' names, how deep it was nested (and how far it
    is indented), how many receiver calls raised, and the lower-case names
    the filter box matches.
    """
    return [
        {
            "signal": event["signal"],
            "name": event["signal"].rpartition(".")[2],
            "sender": event["sender"],
            "receivers": [call["name"] for call in event["receivers"]],
            "depth": event["depth"],
            "indent": min(event["depth"], MAX_INDENT),
            "errors": sum(1 for call in event["receivers"] if call["error"]),
            "search": " ".join(
                [
                    event["signal"],
                    event["sender"],
                    *(c["name"] for c in event["receivers"]),
                ]
            ).lower(),
        }
        for event in split.trace["events"][: split.response_at]
    ]


def previous_context(
    trace: dict[str, Any],
    *,
    method: str,
    path: str,
    status: int | None,
    url: str | None = None,
    slow_ms: float = DEFAULTS.SLOW_RECEIVER_MS,
) -> dict[str, Any]:
    """What ``signaltrace/_trace_previous.html`` shows of the request before a redirect.

    With a *url* (its page in the viewer) the lines link there; without one,
    its whole trace is included, folded.
    """
    split = shown(trace)
    lines = summary(split)
    return {
        "method": method,
        "path": path,
        "status": status,
        "url": url,
        "totals": split.before,
        "lines": lines[:MAX_LINES],
        "more": max(len(lines) - MAX_LINES, 0),
        "signal_trace": None
        if url
        else html_context(trace, slow_ms=slow_ms, anchors="st-previous"),
    }
