"""The django-debug-toolbar panel: every signal a request sent, on a timeline.

::

    DEBUG_TOOLBAR_PANELS = [
        # ... the toolbar's panels ...
        "signaltrace.panels.SignalTracePanel",
    ]

The toolbar's own ``SignalsPanel`` lists the receivers that are connected;
this one shows what fired. Both can be on: the toolbar keys panels by class
name, hence the different one. This is the only module that imports
``debug_toolbar`` (the ``toolbar`` extra).

How it sees the whole request: Django sends ``request_started`` before any
middleware runs and ``request_finished`` after the response went out, both
outside the toolbar's middleware. So :meth:`SignalTracePanel.ready` (called
once, when the toolbar loads its panels) turns on the recorder's request
tracing, as :class:`~signaltrace.middleware.SignalTraceMiddleware` does;
the middleware is not needed, and either may come first. At
``generate_stats`` the panel stores the totals so far (for the sidebar);
once ``request_finished`` has been recorded it stores the finished trace
under the same request id. The toolbar loads a panel's content from its
store when the panel is opened, so the panel shows ``request_finished``
too. (With ``RENDER_PANELS`` on, the content is rendered into the page
before that: the trace so far is stored at ``generate_stats`` too, and the
content says what is missing.)

What is stored is plain JSON-safe data, the trace's ``to_dict()`` and its
totals, so it survives every store (memory, database, cache) and the History
panel's read-back. The content is the trace component shared with the
standalone viewer (``signaltrace/_trace.html``), plus a filter box; both
count and leave out the same sends (:mod:`signaltrace.shown`). A request
that followed a redirect also shows the sends of the request that redirected
to it, from the toolbar's store (:mod:`signaltrace.redirects`).

Works with django-debug-toolbar 4.4 and later: before 6 the toolbar keeps
requests as toolbar objects (``DebugToolbar.fetch``) keyed by a ``store_id``
given when stored; from 6 on, in a store of panel stats keyed by its
``request_id``. :func:`_request_id`, :func:`_stored_stats` and
:class:`_Destination` hide the difference.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import weakref
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from debug_toolbar import settings as dt_settings
from debug_toolbar.panels import Panel
from debug_toolbar.toolbar import DebugToolbar
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from signaltrace import redirects, request_scope
from signaltrace.assertions import SignalTrace
from signaltrace.capturing import capture
from signaltrace.middleware import is_enabled
from signaltrace.shown import shown
from signaltrace.waterfall import html_context

__all__ = ["SignalTracePanel"]

logger = logging.getLogger("signaltrace")

#: Frames of these modules are left out of the stacks the panel shows, on top
#: of the toolbar's ``HIDE_IN_STACKTRACES``: they are in every stack.
_HIDDEN_MODULES = ("signaltrace",)

#: The cookie a redirect sets, naming the toolbar's stored request.
REDIRECT_COOKIE = "signaltrace_djdt_redirected_from"


class SignalTracePanel(Panel):  # type: ignore[misc]  # debug_toolbar is untyped
    """The signals the request sent, their receivers, arguments and timings.

    The nav subtitle sums the request up (``14 sends · 9 receiver calls ·
    3.2 ms · 1 error``), counting the sends made before the response, as the
    content, the ``Server-Timing`` header and the viewer do; the content is a
    waterfall of every send, from ``request_started`` to ``request_finished``,
    each with its details, and the sends summed up by signal and sender.
    """

    is_async = True
    nav_title = _("Signal trace")
    template = "signaltrace/panel.html"
    #: Shown next to the title by django-debug-toolbar 8 and later.
    nav_icon = "signaltrace/panel-icon.svg"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trace: SignalTrace | None = None
        self._capture: capture | None = None

    @classmethod
    def ready(cls) -> None:
        """Turn request tracing on, once, when the toolbar loads its panels.

        Follows the ``ENABLED`` setting (DEBUG by default), as the middleware
        does: a project that keeps the toolbar installed with DEBUG off does
        not pay for tracing every request.
        """
        if is_enabled():
            request_scope.start_request_tracing(_request_finished)

    @property
    def title(self) -> str:
        """``Signal trace: 14 sends, 9 receiver calls``, once the request is done."""
        stats = self.get_stats()
        if "sends" not in stats:
            return str(self.nav_title)
        return f"{self.nav_title}: {', '.join(_counts(stats))}"

    @property
    def nav_subtitle(self) -> str:
        """``14 sends · 9 receiver calls · 3.2 ms · 1 error``.

        Errors when any, and ``after a redirect`` when the request followed
        one (the panel then shows the sends of the request before it too).
        """
        stats = self.get_stats()
        if "sends" not in stats:
            return ""
        parts = [*_counts(stats), _format_ms(stats["signal_ms"])]
        if stats["errors"]:
            parts.append(
                ngettext("%(count)d error", "%(count)d errors", stats["errors"])
                % {"count": stats["errors"]}
            )
        if stats.get("redirected_from"):
            # The panel shows the request that redirected here too.
            parts.append(str(_("after a redirect")))
        # A number stays with its noun when the sidebar wraps the line.
        return " · ".join(part.replace(" ", "\N{NO-BREAK SPACE}") for part in parts)

    @property
    def content(self) -> str:
        """The waterfall, from the stored stats alone (works for stored requests)."""
        stats = self.get_stats()
        if "trace" not in stats:
            return format_html("<p>{}</p>", _("No signal trace was recorded."))
        request = getattr(self.toolbar, "request", None)
        context = {
            "signal_trace": html_context(stats["trace"], slow_ms=stats["slow_ms"]),
            "complete": stats["complete"],
            "previous": self._previous(stats.get("redirected_from")),
            "redirected": bool(stats.get("redirected_from")),
            # The page's own nonce, when the content is rendered into the page
            # (RENDER_PANELS); a panel loaded later is not part of that page.
            "csp_nonce": getattr(self.toolbar, "csp_nonce", None)
            if request is not None
            else None,
        }
        return render_to_string(self.template, context)

    def _previous(self, request_id: str | None) -> dict[str, Any] | None:
        """The request that redirected to this one, while the toolbar keeps it."""
        if request_id is None:
            return None
        stats = _stored_stats(self.toolbar, request_id, self.panel_id)
        if "trace" not in stats:
            return None
        return redirects.previous_context(
            stats["trace"],
            method=stats.get("method", ""),
            path=stats.get("path", ""),
            status=stats.get("status"),
            slow_ms=stats["slow_ms"],
        )

    @property
    def scripts(self) -> list[str]:
        """The filter box's module script."""
        scripts: list[str] = super().scripts
        scripts.append(static("signaltrace/panel.js"))
        return scripts

    def enable_instrumentation(self) -> None:
        """Find the request's trace, and have it record each send's stack.

        Without request tracing (``ready()`` did not run, or ``ENABLED`` is
        off) the panel records from here to the end of the toolbar's
        middleware instead, without ``request_started`` and
        ``request_finished``.
        """
        trace = request_scope.request_trace()
        if trace is None:
            self._capture = capture()
            trace = self._capture.__enter__()
        if dt_settings.get_config()["ENABLE_STACKTRACES"]:
            trace.config = trace.config.with_overrides(CAPTURE_STACKS=True)
        self._trace = trace

    def disable_instrumentation(self) -> None:
        """End the panel's own capture, if it needed one."""
        if self._capture is not None:
            self._capture.__exit__(None, None, None)
            self._capture = None

    def generate_stats(self, request: HttpRequest, response: HttpResponseBase) -> None:
        """Store the trace so far, and have the finished one replace it.

        The sidebar and ``Server-Timing`` read the totals now; the content,
        read when the panel is opened, the trace once the request finished
        (or the one so far, rendered into the page with ``RENDER_PANELS``).
        A redirect names this request in a cookie for the next one.
        """
        trace = self._trace
        if trace is None:
            return
        if trace.responded_at is None:  # the sends counted are those before now
            trace.responded_at = perf_counter()
        about = {
            "method": request.method or "",
            "path": request.path,
            "status": response.status_code,
            "redirected_from": redirects.redirected_from(
                request, cookie=REDIRECT_COOKIE
            ),
        }
        self.record_stats({**_stats(trace), **about})
        if trace.ended_at is None:
            _unfinished[trace] = _Destination.of(self, about)
        request_id = (
            _request_id(self.toolbar) if redirects.is_redirect(response) else None
        )
        redirects.remember(request, response, cookie=REDIRECT_COOKIE, key=request_id)

    def generate_server_timing(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> None:
        """Add the time spent in signals to the ``Server-Timing`` header."""
        stats = self.get_stats()
        if "trace" in stats:
            self.record_server_timing(
                "signals", ", ".join(_counts(stats)), stats["signal_ms"]
            )


def _counts(stats: dict[str, Any]) -> tuple[str, str]:
    """``14 sends`` and ``9 receiver calls``: what every surface counts."""
    return (
        ngettext("%(count)d send", "%(count)d sends", stats["sends"])
        % {"count": stats["sends"]},
        ngettext(
            "%(count)d receiver call",
            "%(count)d receiver calls",
            stats["receiver_calls"],
        )
        % {"count": stats["receiver_calls"]},
    )


# ------------------------------------------------- the toolbar's versions


def _request_id(toolbar: Any) -> str | None:
    """The key the toolbar keeps this request under, or None when it keeps none.

    ``request_id`` from django-debug-toolbar 6 on; before, ``store_id``,
    given when the toolbar stores itself (after the panels' stats, unless
    ``RENDER_PANELS`` keeps it from storing at all): stored now, so that a
    redirect can name it.
    """
    request_id = getattr(toolbar, "request_id", None)
    if request_id is not None:
        return str(request_id)
    if toolbar.should_render_panels():
        return None
    if toolbar.store_id is None:
        toolbar.store()
    return str(toolbar.store_id)


def _stored_stats(toolbar: Any, request_id: str, panel_id: str) -> dict[str, Any]:
    """The stats a panel stored for another request, or ``{}`` when gone."""
    try:
        if _OLD_STORE:
            stored = DebugToolbar.fetch(request_id)
            return dict(stored.stats.get(panel_id, {})) if stored is not None else {}
        return dict(toolbar.store.panel(request_id, panel_id) or {})
    except Exception:
        logger.exception("signaltrace could not read a stored request")
        return {}


#: django-debug-toolbar before 6 keeps toolbar objects, found by ``fetch``;
#: 6 brought ``debug_toolbar.store``.
_OLD_STORE = importlib.util.find_spec("debug_toolbar.store") is None


# -------------------------------------------------------- after the request


@dataclass(frozen=True)
class _Destination:
    """Where the finished trace of a request goes: its toolbar's stored stats.

    Holds no reference to the trace (the key it is filed under). With the
    toolbar's store (6 and later): the store, request id and panel id; before
    6, the toolbar object the toolbar keeps, weakly (gone once it is dropped).
    """

    panel_id: str
    about: dict[str, Any]
    store: Any = None
    request_id: str | None = None
    toolbar: weakref.ref[Any] | None = None

    @classmethod
    def of(cls, panel: SignalTracePanel, about: dict[str, Any]) -> _Destination:
        toolbar = panel.toolbar
        if _OLD_STORE:
            return cls(panel.panel_id, about, toolbar=weakref.ref(toolbar))
        return cls(panel.panel_id, about, toolbar.store, toolbar.request_id)

    def save(self, stats: dict[str, Any]) -> None:
        stats = {**stats, **self.about}
        try:
            if self.toolbar is not None:
                toolbar = self.toolbar()
                if toolbar is not None:
                    toolbar.stats.setdefault(self.panel_id, {}).update(stats)
            else:
                self.store.save_panel(self.request_id, self.panel_id, stats)
        except Exception:
            logger.exception("signaltrace could not store a request's finished trace")


# The traces of requests whose toolbar has stored its stats, until they finish.
# Weak, so that a request that never finishes leaves nothing behind.
_unfinished: weakref.WeakKeyDictionary[SignalTrace, _Destination] = (
    weakref.WeakKeyDictionary()
)


def _request_finished(trace: SignalTrace) -> None:
    """Store a request's finished trace where its toolbar stored the first part.

    Runs inside ``response.close()``: never raises. ``request_finished`` is
    sent from a thread, except when an ASGI client went away; the store may
    use the database, so from inside an event loop the save goes to a thread.
    """
    destination = _unfinished.pop(trace, None)
    if destination is None:
        return
    try:
        stats = _stats(trace)
    except Exception:
        logger.exception("signaltrace could not summarise a request's trace")
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        destination.save(stats)
    else:
        loop.run_in_executor(None, destination.save, stats)


def _stats(trace: SignalTrace) -> dict[str, Any]:
    """The panel's stats: the trace as JSON-safe data, and its totals.

    The totals are those every surface shows (:mod:`signaltrace.shown`).
    Stack frames of the modules in the toolbar's ``HIDE_IN_STACKTRACES`` are
    left out, as the toolbar leaves them out of its own stacks.
    """
    data = trace.to_dict()
    hidden = (*dt_settings.get_config()["HIDE_IN_STACKTRACES"], *_HIDDEN_MODULES)
    modules = frozenset(hidden)
    packages = tuple(f"{module}." for module in hidden)
    for event in data["events"]:
        if event["stack"] is not None:
            event["stack"] = [
                frame
                for frame in event["stack"]
                if not (
                    frame["module"] in modules or frame["module"].startswith(packages)
                )
            ]
    totals = shown(data).before
    return {
        "trace": data,
        "sends": totals.sends,
        "receiver_calls": totals.receiver_calls,
        "errors": totals.errors,
        "signal_ms": totals.signal_ms,
        "slow_ms": trace.config.SLOW_RECEIVER_MS,
        # False until request_finished: the template says what is missing.
        "complete": trace.ended_at is not None,
    }


def _format_ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 1 else f"{value:.1f} ms"
