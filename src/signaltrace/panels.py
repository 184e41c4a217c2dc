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
standalone viewer (``signaltrace/_trace.html``), plus a filter box.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Any

from debug_toolbar import settings as dt_settings
from debug_toolbar.panels import Panel
from debug_toolbar.panels.staticfiles import record_static_file_signal
from debug_toolbar.toolbar import DebugToolbar
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.test.signals import template_rendered
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from signaltrace import naming, request_scope
from signaltrace.assertions import SignalTrace
from signaltrace.capturing import capture
from signaltrace.middleware import is_enabled
from signaltrace.render import filter_trace
from signaltrace.trace import summarize
from signaltrace.waterfall import html_context

__all__ = ["SignalTracePanel"]

logger = logging.getLogger("signaltrace")

#: The signals the toolbar sends to feed its own panels.
_TOOLBAR_SIGNAL_NAMES = (
    naming.signal_name(template_rendered),
    naming.signal_name(record_static_file_signal),
)

#: Frames of these modules are left out of the stacks the panel shows, on top
#: of the toolbar's ``HIDE_IN_STACKTRACES``: they are in every stack.
_HIDDEN_MODULES = ("signaltrace",)


class SignalTracePanel(Panel):  # type: ignore[misc]  # debug_toolbar is untyped
    """The signals the request sent, their receivers, arguments and timings.

    The nav subtitle sums the request up (``14 sends · 9 receivers · 3.2 ms
    · 1 error``); the content is a waterfall of every send, from
    ``request_started`` to ``request_finished``, each with its details, and
    the sends summed up by signal and sender.
    """

    is_async = True
    title = _("Signal trace")
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
    def nav_subtitle(self) -> str:
        """``14 sends · 9 receiver calls · 3.2 ms · 1 error`` (errors when any)."""
        stats = self.get_stats()
        if "sends" not in stats:
            return ""
        parts = [
            ngettext("%(count)d send", "%(count)d sends", stats["sends"])
            % {"count": stats["sends"]},
            ngettext(
                "%(count)d receiver call",
                "%(count)d receiver calls",
                stats["receiver_calls"],
            )
            % {"count": stats["receiver_calls"]},
            _format_ms(stats["signal_ms"]),
        ]
        if stats["errors"]:
            parts.append(
                ngettext("%(count)d error", "%(count)d errors", stats["errors"])
                % {"count": stats["errors"]}
            )
        # A number stays with its noun when the sidebar wraps the line.
        return " · ".join(part.replace(" ", "\N{NO-BREAK SPACE}") for part in parts)

    @property
    def content(self) -> str:
        """The waterfall, from the stored stats alone (works for stored requests)."""
        stats = self.get_stats()
        if "trace" not in stats:
            message = (
                _("The request is still running: its trace is stored when it ends.")
                if "sends" in stats
                else _("No signal trace was recorded.")
            )
            return format_html("<p>{}</p>", message)
        request = getattr(self.toolbar, "request", None)
        context = {
            "signal_trace": html_context(stats["trace"], slow_ms=stats["slow_ms"]),
            "complete": stats["complete"],
            "toolbar_sends": stats.get("toolbar_sends", 0),
            # The page's own nonce, when the content is rendered into the page
            # (RENDER_PANELS); a panel loaded later is not part of that page.
            "csp_nonce": self.toolbar.csp_nonce if request is not None else None,
        }
        return render_to_string(self.template, context)

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
        """Store the trace when the request has finished (and now, if needed now).

        Until then the sidebar's totals so far are stored. With ``RENDER_PANELS``
        the content goes into the page now, so the trace so far is stored now
        too, and the finished one replaces it.
        """
        trace = self._trace
        if trace is None:
            return
        if trace.ended_at is not None or self.toolbar.should_render_panels():
            self.record_stats(_stats(trace))
        else:
            self.record_stats(_totals(trace))
        if trace.ended_at is None:
            _unfinished[trace] = _Destination(
                self.toolbar.store, self.toolbar.request_id, self.panel_id
            )

    def generate_server_timing(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> None:
        """Add the time spent in signals to the ``Server-Timing`` header."""
        stats = self.get_stats()
        if "trace" in stats:
            self.record_server_timing(
                "signals",
                ngettext(
                    "%(count)d signal send", "%(count)d signal sends", stats["sends"]
                )
                % {"count": stats["sends"]},
                stats["signal_ms"],
            )


# -------------------------------------------------------- after the request


@dataclass(frozen=True)
class _Destination:
    """Where the finished trace of a request goes: its toolbar's store entry."""

    store: Any
    request_id: str
    panel_id: str

    def save(self, stats: dict[str, Any]) -> None:
        try:
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

    What the toolbar does for its own panels is left out, as its SQL panel
    leaves out its own queries: the sends of its instrumentation signals, and
    stack frames of the modules in its ``HIDE_IN_STACKTRACES``.
    """
    data, toolbar_sends = _without_toolbar_sends(trace)
    hidden = (*dt_settings.get_config()["HIDE_IN_STACKTRACES"], *_HIDDEN_MODULES)
    for event in data["events"]:
        if event["stack"] is not None:
            event["stack"] = [
                frame for frame in event["stack"] if not _is_hidden(frame, hidden)
            ]
    totals = summarize(data)
    return {
        "trace": data,
        "sends": totals["sends"],
        "receiver_calls": totals["receiver_calls"],
        "errors": totals["errors"],
        "signal_ms": totals["signal_ms"],
        "slow_ms": trace.config.SLOW_RECEIVER_MS,
        # False until request_finished: the template says what is missing.
        "complete": trace.ended_at is not None,
        "toolbar_sends": toolbar_sends,
    }


def _totals(trace: SignalTrace) -> dict[str, Any]:
    """The sidebar's totals of a trace still recording, without the toolbar's sends."""
    events = [e for e in trace.events if e.name not in _TOOLBAR_SIGNAL_NAMES]
    return {
        "sends": len(events),
        "receiver_calls": sum(len(event.receivers) for event in events),
        "errors": sum(len(event.errors) for event in events),
        "signal_ms": round(
            sum(e.duration for e in events if e.parent_call is None) * 1000, 4
        ),
    }


def _without_toolbar_sends(trace: SignalTrace) -> tuple[dict[str, Any], int]:
    """The trace's ``to_dict()`` without the toolbar's own sends, and how many.

    The TemplatesPanel sends ``template_rendered`` for every template (the
    toolbar's own included), the StaticFilesPanel its ``record_static_file_signal``
    for every static URL, and the toolbar ``DebugToolbar._created``: none of
    them would be sent without the toolbar.
    """
    data = trace.to_dict()
    sends = len(data["events"]) + sum(count["count"] for count in data["counts"])
    data = filter_trace(data, exclude_signals=_TOOLBAR_SIGNAL_NAMES)
    # DebugToolbar._created is a class attribute: it has no dotted name to
    # filter by. It reaches no receiver, so it is only counted: find its
    # counts by identity.
    created = [
        (sender_name, count)
        for signal, sender_name, count in list(trace._counts.values())
        if signal is DebugToolbar._created
    ]
    counts = []
    for count in data["counts"]:
        left = count["count"] - sum(
            number
            for sender_name, number in created
            if count["sender"] == sender_name
            and count["signal"] == naming.signal_name(DebugToolbar._created)
        )
        if left > 0:
            counts.append({**count, "count": left})
    data["counts"] = counts
    kept = len(data["events"]) + sum(count["count"] for count in counts)
    return data, sends - kept


def _is_hidden(frame: dict[str, Any], modules: tuple[str, ...]) -> bool:
    module: str = frame["module"]
    return any(
        module == hidden or module.startswith(hidden + ".") for hidden in modules
    )


def _format_ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 1 else f"{value:.1f} ms"
