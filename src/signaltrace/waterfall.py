"""The waterfall: the HTML of a trace, shared by the toolbar panel and the viewer.

One template, ``signaltrace/_trace.html``, fed by :func:`html_context` from
:meth:`signaltrace.Trace.to_dict` data; Django's autoescaping shows every
value as text.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string

from signaltrace.conf import DEFAULTS
from signaltrace.trace import summarize

__all__ = ["html_context", "render_html"]


def html_context(
    trace: dict[str, Any], *, slow_ms: float = DEFAULTS.SLOW_RECEIVER_MS
) -> dict[str, Any]:
    """Return what ``signaltrace/_trace.html`` needs, from a ``to_dict()`` trace.

    The template expects it as ``signal_trace``. Its ``sends`` are the
    top-level sends; each send is a dict with

    - ``event``: the dict from the trace; ``name``: the signal's short name;
    - ``failed``: whether the send or one of its receivers raised, and
      ``errors``: how many receiver calls raised;
    - ``receivers``: one ``{"call", "slow", "children"}`` per receiver call,
      with the sends made from inside it; ``orphans``: the nested sends whose
      receiver is not known; ``children``: all nested sends, in start order;
    - ``via``: the name of the receiver that made the send, if known;
    - ``bar``: ``{"x", "width"}``, where the send lies on the timeline of the
      whole trace, in percent of ``elapsed_ms`` (strings, for SVG attributes);
    - ``search``: the lower-case names a filter matches (signal, sender,
      receivers);
    - ``stack``: the frames of ``event["stack"]``, each with its ``directory``
      and ``basename``, or None when no stack was recorded.

    Each send also has ``badges``, one ``{"code", "title"}`` per kind of
    finding about the send or its receivers (``title`` joins their messages),
    and each receiver the ``badges`` of its own findings; ``findings`` lists
    them all (see :mod:`signaltrace.insights`).

    ``summary`` holds the totals; ``groups`` sums the recorded sends up by
    signal and sender, and ``unreceived`` the sends that reached no receiver
    and were only counted, ``unreceived_sends`` in all (see :func:`_groups`);
    ``counts`` and ``dropped`` come from the trace unchanged.
    """
    events: list[dict[str, Any]] = trace["events"]
    elapsed = trace["elapsed_ms"] or max(
        (event["start_ms"] + event["duration_ms"] for event in events), default=0.0
    )
    nodes = [_node(event, slow_ms, elapsed) for event in events]
    roots = []
    for event, node in zip(events, nodes, strict=True):
        parent = event["parent"]
        if parent is None:
            roots.append(node)
            continue
        receiver = event.get("parent_receiver")
        parent_node = nodes[parent]
        parent_node["children"].append(node)
        if receiver is not None and receiver < len(parent_node["receivers"]):
            parent_node["receivers"][receiver]["children"].append(node)
            node["via"] = parent_node["receivers"][receiver]["call"]["name"]
        else:
            parent_node["orphans"].append(node)
    found = trace.get("findings", [])
    _attach_findings(nodes, found)
    return {
        "sends": roots,
        "findings": found,
        "summary": summarize(trace),
        **_groups(trace),
        "counts": trace["counts"],
        "dropped": trace["dropped"],
    }


def _attach_findings(nodes: list[dict[str, Any]], found: list[dict[str, Any]]) -> None:
    """Give each send and receiver node the badges of its findings."""
    for node in nodes:
        node["badges"] = []
        for receiver in node["receivers"]:
            receiver["badges"] = []
    for finding in found:
        node = nodes[finding["event"]]
        _badge(node["badges"], finding)
        receiver = finding["receiver"]
        if receiver is not None and receiver < len(node["receivers"]):
            _badge(node["receivers"][receiver]["badges"], finding)


def _badge(badges: list[dict[str, str]], finding: dict[str, Any]) -> None:
    for badge in badges:
        if badge["code"] == finding["code"]:
            badge["title"] += "\n" + finding["message"]
            return
    badges.append({"code": finding["code"], "title": finding["message"]})


#: The narrowest bar on the timeline, in percent: a send of a few microseconds
#: in a long request still shows as a tick.
_MIN_BAR = 0.3


def _node(event: dict[str, Any], slow_ms: float, elapsed_ms: float) -> dict[str, Any]:
    """The template's view of one send (see :func:`html_context`)."""
    receivers = event["receivers"]
    errors = sum(1 for call in receivers if call["error"])
    if elapsed_ms > 0:
        x = min(max(event["start_ms"] / elapsed_ms * 100, 0.0), 100 - _MIN_BAR)
        width = max(event["duration_ms"] / elapsed_ms * 100, _MIN_BAR)
    else:
        x, width = 0.0, _MIN_BAR
    stack = event.get("stack")
    return {
        "event": event,
        "name": event["signal"].rpartition(".")[2],
        "failed": bool(event["error"]) or errors > 0,
        "errors": errors,
        "receivers": [
            {"call": call, "slow": call["duration_ms"] >= slow_ms, "children": []}
            for call in receivers
        ],
        "orphans": [],
        "children": [],
        "via": None,
        "bar": {"x": f"{x:.3f}", "width": f"{min(width, 100 - x):.3f}"},
        "search": " ".join(
            [event["signal"], event["sender"], *(call["name"] for call in receivers)]
        ).lower(),
        "stack": [_frame(frame) for frame in stack] if stack is not None else None,
    }


def _frame(frame: dict[str, Any]) -> dict[str, Any]:
    """A stack frame with its file name split, as the toolbar shows stacks."""
    directory, separator, basename = frame["file"].rpartition("/")
    return {**frame, "directory": directory + separator, "basename": basename}


def _groups(trace: dict[str, Any]) -> dict[str, Any]:
    """The sends summed up by signal and sender.

    Each group is ``{"signal", "name", "sender", "sends", "counted",
    "receivers", "errors", "duration_ms"}``: ``sends`` includes the
    ``counted`` ones, which reached no receiver and were only counted (no
    time is recorded for them); ``receivers`` and ``errors`` count receiver
    calls. ``groups`` are those with a recorded send, the costliest first;
    ``unreceived`` those only counted, the most frequent first (one per
    model for ``pre_init``/``post_init``: a long list, shown folded).
    """
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def group(signal: str, sender: str) -> dict[str, Any]:
        found = groups.get((signal, sender))
        if found is None:
            found = groups[signal, sender] = {
                "signal": signal,
                "name": signal.rpartition(".")[2],
                "sender": sender,
                "sends": 0,
                "counted": 0,
                "receivers": 0,
                "errors": 0,
                "duration_ms": 0.0,
            }
        return found

    for event in trace["events"]:
        found = group(event["signal"], event["sender"])
        found["sends"] += 1
        found["receivers"] += len(event["receivers"])
        found["errors"] += sum(1 for call in event["receivers"] if call["error"])
        found["duration_ms"] += event["duration_ms"]
    for count in trace["counts"]:
        found = group(count["signal"], count["sender"])
        found["sends"] += count["count"]
        found["counted"] += count["count"]
    for found in groups.values():
        found["duration_ms"] = round(found["duration_ms"], 4)
    recorded = [found for found in groups.values() if found["counted"] < found["sends"]]
    unreceived = [
        found for found in groups.values() if found["counted"] == found["sends"]
    ]
    return {
        "groups": sorted(recorded, key=lambda found: -found["duration_ms"]),
        "unreceived": sorted(unreceived, key=lambda found: -found["sends"]),
        "unreceived_sends": sum(found["sends"] for found in unreceived),
    }


def render_html(
    trace: dict[str, Any],
    *,
    request: HttpRequest | None = None,
    slow_ms: float = DEFAULTS.SLOW_RECEIVER_MS,
) -> str:
    """Return a ``to_dict()`` trace as the HTML tree of ``signaltrace/_trace.html``."""
    context = {"signal_trace": html_context(trace, slow_ms=slow_ms)}
    return render_to_string("signaltrace/_trace.html", context, request)
