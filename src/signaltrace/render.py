"""Rendering a trace for people: the plain-text tree printed by the command, and
the HTML tree shared by the viewer and the toolbar panel.

Everything here works from :meth:`signaltrace.Trace.to_dict` output, never
from live objects, so what the tree shows and what ``--json`` prints cannot
disagree: both come from the same (optionally filtered) dict, and every value
in it already went through :mod:`signaltrace.values`. The HTML tree is one
template, ``signaltrace/_trace.html``, fed by :func:`html_context`; Django's
autoescaping shows every value as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.management.color import Style, no_style
from django.http import HttpRequest
from django.template.loader import render_to_string

from signaltrace import insights
from signaltrace.conf import DEFAULTS
from signaltrace.naming import name_matches
from signaltrace.receivers import ConnectedReceiver
from signaltrace.trace import summarize
from signaltrace.values import truncate

__all__ = [
    "filter_trace",
    "findings",
    "html_context",
    "render_html",
    "render_receivers",
    "render_text",
]

# ------------------------------------------------------------------ findings


def findings(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``findings`` of a ``to_dict()`` trace.

    A dict stored before findings existed has none: they are found from its
    events then, with the default thresholds.
    """
    found = trace.get("findings")
    if found is None:
        found = [finding.to_dict() for finding in insights.find(trace)]
    return found


# ------------------------------------------------------------------- filters


def filter_trace(
    trace: dict[str, Any],
    *,
    signals: Sequence[str] = (),
    exclude_signals: Sequence[str] = (),
    senders: Sequence[str] = (),
    min_duration_ms: float | None = None,
) -> dict[str, Any]:
    """Return a copy of a ``to_dict()`` trace keeping only the matching sends.

    Signal and sender names match by dotted path or by its last part
    (``post_save`` matches ``django.db.models.signals.post_save``); a send is
    kept when its signal matches one of *signals* (if any), none of
    *exclude_signals*, its sender one of *senders* (if any), and it took at
    least *min_duration_ms*. The result has the same format: events are
    renumbered, a kept send whose parent was dropped hangs from its nearest
    kept ancestor (or becomes a root), ``depth`` is its depth among the kept
    sends and ``duration_ms`` their total. ``counts`` are filtered by signal
    and sender too, ``findings`` keep those of the kept sends. Without any
    criterion the trace is returned unchanged.
    """
    if not (signals or exclude_signals or senders or min_duration_ms):
        return trace

    def signal_kept(name: str) -> bool:
        return (not signals or any(name_matches(name, s) for s in signals)) and not any(
            name_matches(name, s) for s in exclude_signals
        )

    def sender_kept(name: str) -> bool:
        return not senders or any(
            name == wanted or name_matches(name, wanted) for wanted in senders
        )

    source: list[dict[str, Any]] = trace["events"]
    new_ids: dict[int, int] = {}
    events: list[dict[str, Any]] = []
    for position, event in enumerate(source):
        if not (
            signal_kept(event["signal"])
            and sender_kept(event["sender"])
            and (min_duration_ms is None or event["duration_ms"] >= min_duration_ms)
        ):
            continue
        parent, parent_receiver = event["parent"], event.get("parent_receiver")
        # Parents come before their children, so a kept ancestor is known here.
        while parent is not None and parent not in new_ids:
            ancestor = source[parent]
            parent, parent_receiver = (
                ancestor["parent"],
                ancestor.get("parent_receiver"),
            )
        new_parent = new_ids[parent] if parent is not None else None
        new_ids[position] = len(events)
        events.append(
            {
                **event,
                "id": len(events),
                "parent": new_parent,
                "parent_receiver": parent_receiver if new_parent is not None else None,
                "depth": events[new_parent]["depth"] + 1
                if new_parent is not None
                else 0,
            }
        )
    return {
        **trace,
        "duration_ms": round(
            sum(event["duration_ms"] for event in events if event["parent"] is None), 4
        ),
        "events": events,
        "counts": [
            count
            for count in trace["counts"]
            if signal_kept(count["signal"]) and sender_kept(count["sender"])
        ],
        # Findings stay as found on the whole trace, on the sends kept.
        "findings": [
            {**finding, "event": new_ids[finding["event"]]}
            for finding in findings(trace)
            if finding["event"] in new_ids
        ],
    }


# ----------------------------------------------------------------- text tree

_BRANCH, _LAST, _PIPE, _SPACE = "├─ ", "└─ ", "│  ", "   "
_VALUE_WIDTH = 40
_KWARGS_WIDTH = 160


def render_text(
    trace: dict[str, Any],
    *,
    style: Style | None = None,
    verbosity: int = 1,
    slow_ms: float = DEFAULTS.SLOW_RECEIVER_MS,
) -> str:
    """Return a ``to_dict()`` trace as an indented tree followed by a summary.

    Each send shows its signal, sender, method, duration and a summary of its
    keyword arguments; under it each receiver with its duration and error, and
    under a receiver the sends it made. Verbosity 0 prints the summary alone,
    2 adds every keyword argument in full, where each send came from and where
    each receiver is defined.

    Arguments:
        trace: the output of ``Trace.to_dict()``, possibly through
            :func:`filter_trace`.
        style: Django's colour style (``BaseCommand.style``); no colour if None.
        verbosity: 0, 1 or 2 (higher counts as 2).
        slow_ms: receivers taking at least this many milliseconds are flagged.
    """
    tree = _TextTree(trace["events"], style or no_style(), verbosity, slow_ms)
    lines = tree.render() if verbosity > 0 else []
    lines.extend(_summary(trace, tree.style, verbosity))
    lines.extend(_findings_section(trace, tree.style))
    return "\n".join(lines)


class _TextTree:
    """Lays out the events of a trace dict: sends and receivers alternate by level."""

    def __init__(
        self,
        events: list[dict[str, Any]],
        style: Style,
        verbosity: int,
        slow_ms: float,
    ) -> None:
        self.events = events
        self.style = style
        self.verbosity = verbosity
        self.slow_ms = slow_ms
        self.lines: list[str] = []
        # (parent event id, receiver index or None) -> child events, in send order.
        self.children: dict[tuple[int, int | None], list[dict[str, Any]]] = {}
        self.roots: list[dict[str, Any]] = []
        for event in events:
            parent = event["parent"]
            if parent is None:
                self.roots.append(event)
            else:
                key = (parent, event.get("parent_receiver"))
                self.children.setdefault(key, []).append(event)

    def render(self) -> list[str]:
        for event in self.roots:
            self._event(event, "", "")
        return self.lines

    def _event(self, event: dict[str, Any], lead: str, prefix: str) -> None:
        """Add a send's line, its details, then its receivers as branches."""
        style = self.style
        parts = [
            lead + style.MIGRATE_LABEL(event["signal"]),
            f"sender={event['sender']}",
            event["method"],
            _ms(event["duration_ms"]),
        ]
        if self.verbosity == 1 and event["kwargs"]:
            parts.append(_kwargs_summary(event["kwargs"]))
        if not event["receivers"]:
            parts.append("(no receivers)")
        self.lines.append("  ".join(parts))

        branches: list[tuple[int | None, dict[str, Any]]] = [
            (index, call) for index, call in enumerate(event["receivers"])
        ]
        # Sends whose receiver is not known (a dict without "parent_receiver")
        # hang from the send itself.
        branches.extend(
            (None, child) for child in self.children.get((event["id"], None), ())
        )
        inner = prefix + (_PIPE if branches else _SPACE)
        if event["error"]:
            self.lines.append(inner + style.ERROR(f"! {event['error']}"))
        if self.verbosity >= 2:
            for name, value in event["kwargs"].items():
                self.lines.append(f"{inner}  {name}={_one_line(value)}")
            location = event["location"]
            if location:
                self.lines.append(f"{inner}  sent from {_where(location)}")

        for position, (index, item) in enumerate(branches):
            last = position == len(branches) - 1
            branch, sub = (_LAST, _SPACE) if last else (_BRANCH, _PIPE)
            if index is None:
                self._event(item, prefix + branch, prefix + sub)
            else:
                self._receiver(event, index, item, prefix + branch, prefix + sub)

    def _receiver(
        self,
        event: dict[str, Any],
        index: int,
        call: dict[str, Any],
        lead: str,
        prefix: str,
    ) -> None:
        """Add a receiver's line, its details, then the sends it made."""
        style = self.style
        duration = _ms(call["duration_ms"])
        if call["duration_ms"] >= self.slow_ms:
            duration = style.WARNING(f"{duration} slow")
        parts = [lead + call["name"], duration]
        if call["is_async"]:
            parts.append("async")
        if call["error"]:
            parts.append(style.ERROR(f"raised {call['error']}"))
        self.lines.append("  ".join(parts))

        children = self.children.get((event["id"], index), [])
        if self.verbosity >= 2:
            inner = prefix + (_PIPE if children else _SPACE)
            if call["source"]:
                self.lines.append(f"{inner}  defined in {_where(call['source'])}")
            if call["response"] not in (None, "None"):
                self.lines.append(f"{inner}  returned {call['response']}")

        for position, child in enumerate(children):
            last = position == len(children) - 1
            self._event(
                child,
                prefix + (_LAST if last else _BRANCH),
                prefix + (_SPACE if last else _PIPE),
            )


def _summary(trace: dict[str, Any], style: Style, verbosity: int) -> list[str]:
    totals = summarize(trace)
    errors = totals["errors"]
    error_text = _plural(errors, "error")
    lines = [
        style.MIGRATE_HEADING("Summary: ")
        + ", ".join(
            [
                _plural(totals["sends"], "send"),
                _plural(totals["receivers"], "receiver call"),
                style.ERROR(error_text) if errors else error_text,
                f"{_ms(totals['signal_ms'])} in signals",
            ]
        )
    ]
    if trace["counts"]:
        lines.append(style.MIGRATE_HEADING("Sends that reached no receiver:"))
        per_signal: dict[str, int] = {}
        for count in trace["counts"]:
            per_signal[count["signal"]] = (
                per_signal.get(count["signal"], 0) + count["count"]
            )
            if verbosity >= 2:
                lines.append(
                    f"  {count['signal']}  sender={count['sender']}  {count['count']}"
                )
        if verbosity < 2:
            lines.extend(f"  {name}  {total}" for name, total in per_signal.items())
    if trace["dropped"]:
        lines.append(
            style.WARNING(
                f"Dropped: {_plural(trace['dropped'], 'send')} "
                "after MAX_EVENTS was reached"
            )
        )
    return lines


def _findings_section(trace: dict[str, Any], style: Style) -> list[str]:
    found = findings(trace)
    if not found:
        return []
    return [
        style.MIGRATE_HEADING(f"Findings ({len(found)}):"),
        *(
            f"  {style.WARNING(finding['code'])}  {_one_line(finding['message'])}"
            for finding in found
        ),
    ]


def _kwargs_summary(kwargs: dict[str, str]) -> str:
    text = ", ".join(
        f"{name}={truncate(value, _VALUE_WIDTH)}" for name, value in kwargs.items()
    )
    return truncate(_one_line(text), _KWARGS_WIDTH)


def _one_line(text: str) -> str:
    # A custom __repr__ may span lines; the tree must not.
    return text.replace("\n", "\\n") if "\n" in text else text


def _ms(value: float) -> str:
    return f"{value:.3f} ms"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _where(location: dict[str, Any]) -> str:
    text = f"{location['file']}:{location['line']}"
    function = location.get("function")
    return f"{text} in {function}" if function else text


# ----------------------------------------------------------- receivers list


def render_receivers(
    receivers: Iterable[ConnectedReceiver], *, style: Style | None = None
) -> str:
    """Return the receivers grouped by signal, one line per receiver.

    Each line gives the receiver's dotted name, where it is defined, the
    sender it is limited to (``any`` when none), weak or strong, sync or
    async, and the ``dispatch_uid`` when one was given.
    """
    style = style or no_style()
    lines: list[str] = []
    current = None
    total = 0
    signal_count = 0
    for connected in receivers:
        if connected.signal != current:
            current = connected.signal
            signal_count += 1
            lines.append(style.MIGRATE_LABEL(current))
        total += 1
        source = connected.source
        parts = [
            "  " + connected.name,
            f"({source.filename}:{source.lineno})" if source else "(source unknown)",
            f"sender={connected.sender if connected.sender is not None else 'any'}",
            "weak" if connected.weak else "strong",
            "async" if connected.is_async else "sync",
        ]
        if connected.dispatch_uid is not None:
            parts.append(f"dispatch_uid={connected.dispatch_uid}")
        lines.append("  ".join(parts))
    lines.append(
        style.MIGRATE_HEADING("Summary: ")
        + f"{_plural(total, 'receiver')} on {_plural(signal_count, 'signal')}"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------- HTML tree


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
    found = findings(trace)
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
