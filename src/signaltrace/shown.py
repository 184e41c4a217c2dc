"""What the request surfaces show and count: one rule for the panel and the viewer.

The toolbar's sidebar and the ``Server-Timing`` header are written when the
response leaves; the panel and the viewer are read later, from the whole
trace. So that all of them give the same numbers:

- the sends debugging tools make to feed themselves (:data:`INSTRUMENTATION_SIGNALS`:
  the toolbar's templates and static files panels; and
  :data:`INSTRUMENTATION_SENDERS`: the toolbar's database store saving its
  rows) are left out of both surfaces, and each says how many it left out;
- the totals count the sends made before the response was ready
  (:attr:`Shown.before`): before the trace's ``response_ms``, the moment the
  first of the middleware and the panel saw the response, when the sidebar's
  totals are taken. Sends after it (``request_finished``, sent once the
  response is out, and the sends of its receivers; a middleware above the
  toolbar sending on the way out) are shown after the rest and counted apart
  (:attr:`Shown.after`). A trace without ``response_ms`` is cut at its first
  top-level ``request_finished``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from signaltrace.render import filter_trace

__all__ = [
    "INSTRUMENTATION_SENDERS",
    "INSTRUMENTATION_SIGNALS",
    "REQUEST_FINISHED",
    "Shown",
    "Totals",
    "shown",
]

#: The signals that feed debugging tools: django-debug-toolbar's templates
#: panel records ``template_rendered`` (which Django otherwise sends only in
#: tests) for every template, its own included; its static files panel sends
#: one signal per static URL; and the toolbar announces each toolbar it makes.
#: None of them would be sent without the toolbar.
INSTRUMENTATION_SIGNALS = (
    "django.test.signals.template_rendered",
    "debug_toolbar.panels.staticfiles.record_static_file_signal",
    "debug_toolbar.toolbar.DebugToolbar._created",
)

#: The models of debugging tools: the toolbar's ``DatabaseStore`` saves its
#: rows while the request ends, which sends their model signals.
INSTRUMENTATION_SENDERS = ("debug_toolbar.models.HistoryEntry",)

#: Sent once the response has gone out: it and the sends of its receivers
#: are counted apart.
REQUEST_FINISHED = "django.core.signals.request_finished"


class Totals(NamedTuple):
    """The totals of a run of sends."""

    #: Stored sends (sends that reached no receiver are only counted, apart).
    sends: int = 0
    receiver_calls: int = 0
    #: Receiver calls that raised.
    errors: int = 0
    #: Milliseconds inside the top-level sends among them.
    signal_ms: float = 0.0


class Shown(NamedTuple):
    """A request's ``to_dict()`` trace as the surfaces show it."""

    #: The trace without the instrumentation sends.
    trace: dict[str, Any]
    #: Position in ``trace["events"]`` of the first send after the response
    #: (``len(events)`` when there is none).
    response_at: int
    #: The sends before the response: what every surface counts.
    before: Totals
    #: ``request_finished`` and the sends of its receivers.
    after: Totals
    #: How many instrumentation sends were left out (stored or only counted).
    hidden: int


def shown(trace: dict[str, Any]) -> Shown:
    """Split a request's ``to_dict()`` trace as every surface shows it."""
    before_filter = _sends(trace)
    trace = filter_trace(
        trace,
        exclude_signals=INSTRUMENTATION_SIGNALS,
        exclude_senders=INSTRUMENTATION_SENDERS,
    )
    events: list[dict[str, Any]] = trace["events"]
    response_ms = trace.get("response_ms")
    response_at = next(
        (
            position
            for position, event in enumerate(events)
            if event["parent"] is None
            and (
                event["start_ms"] >= response_ms
                if response_ms is not None
                else event["signal"] == REQUEST_FINISHED
            )
        ),
        len(events),
    )
    return Shown(
        trace=trace,
        response_at=response_at,
        before=_totals(events[:response_at]),
        after=_totals(events[response_at:]),
        hidden=before_filter - _sends(trace),
    )


def _sends(trace: dict[str, Any]) -> int:
    counted: int = sum(count["count"] for count in trace["counts"])
    return len(trace["events"]) + counted


def _totals(events: list[dict[str, Any]]) -> Totals:
    calls = [call for event in events for call in event["receivers"]]
    return Totals(
        sends=len(events),
        receiver_calls=len(calls),
        errors=sum(1 for call in calls if call["error"]),
        signal_ms=round(
            sum(event["duration_ms"] for event in events if event["parent"] is None),
            4,
        ),
    )
