"""The waterfall: the HTML of a trace, shared by the toolbar panel and the viewer.

The page around it is the template ``signaltrace/_trace.html`` (summary,
findings, the sums by signal and sender), fed by :func:`html_context`. The
rows of the sends, one per send, are written here instead: a request can
make ten thousand sends, and a template include per row costs a hundred
times more than a formatted string. Every value goes through
:func:`html.escape` (what Django's ``escape`` runs), so it is shown as text.

The rows are flat, in start order: a send made from inside a receiver comes
right after the send it was made in, indented by its depth and pointing to
its parent (``data-st-parent``), so any depth renders, and the filter script
(``static/signaltrace/filter.js``) can keep a match's enclosing sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from signaltrace.conf import DEFAULTS
from signaltrace.shown import shown

__all__ = ["html_context", "render_html"]

#: Sends deeper than this are indented as much as this and say their level.
MAX_INDENT = 8

#: The narrowest bar on the timeline, in percent: a send of a few microseconds
#: in a long request still shows as a tick.
_MIN_BAR = 0.3


def html_context(
    trace: dict[str, Any],
    *,
    slow_ms: float = DEFAULTS.SLOW_RECEIVER_MS,
    anchors: str = "st-send",
) -> dict[str, Any]:
    """Return what ``signaltrace/_trace.html`` needs, from a request's ``to_dict()``.

    Receivers taking *slow_ms* or more are marked slow; each row's ``id`` is
    *anchors* and its position (another prefix for a second trace on the
    same page). The template expects the result as ``signal_trace``:

    - ``rows`` and ``after_rows``: the HTML rows of the sends before the
      response and of ``request_finished`` with the sends of its receivers
      (see :mod:`signaltrace.shown`);
    - ``summary`` and ``after``: their totals (``sends``, ``receiver_calls``,
      ``errors``, ``signal_ms``), ``elapsed_ms``: the request's;
    - ``hidden``: how many sends of debugging tools were left out;
    - ``findings``: the findings (see :mod:`signaltrace.insights`), also
      shown as badges on the sends and receivers they concern;
    - ``groups``: the recorded sends summed up by signal and sender,
      ``unreceived``: the sends that reached no receiver and were only
      counted, ``unreceived_sends`` in all (see :func:`_groups`);
    - ``shared_stack``: the outer frames every recorded stack starts with,
      shown once (each send's stack shows the rest), or "";
    - ``dropped`` and ``recording_errors``, from the trace unchanged.
    """
    split = shown(trace)
    data = split.trace
    events: list[dict[str, Any]] = data["events"]
    elapsed = data["elapsed_ms"] or max(
        (event["start_ms"] + event["duration_ms"] for event in events), default=0.0
    )
    findings: list[dict[str, Any]] = data.get("findings", [])
    rows = _Rows(events, findings, slow_ms=slow_ms, elapsed_ms=elapsed, anchors=anchors)
    return {
        "rows": rows.html(range(split.response_at)),
        "after_rows": rows.html(range(split.response_at, len(events))),
        "summary": {**split.before._asdict(), "elapsed_ms": elapsed},
        "after": split.after._asdict(),
        "hidden": split.hidden,
        "shared_stack": rows.shared_stack(),
        "findings": findings,
        **_groups(data),
        "dropped": data["dropped"],
        "recording_errors": data.get("recording_errors", []),
    }


def render_html(
    trace: dict[str, Any],
    *,
    request: HttpRequest | None = None,
    slow_ms: float = DEFAULTS.SLOW_RECEIVER_MS,
) -> str:
    """Return a request's ``to_dict()`` trace as ``_trace.html`` shows it."""
    context = {"signal_trace": html_context(trace, slow_ms=slow_ms)}
    return render_to_string("signaltrace/_trace.html", context, request)


# ------------------------------------------------------------------ the rows


class _Rows:
    """Writes the rows of a trace's sends, each with the details its toggle opens."""

    def __init__(
        self,
        events: list[dict[str, Any]],
        findings: list[dict[str, Any]],
        *,
        slow_ms: float,
        elapsed_ms: float,
        anchors: str,
    ) -> None:
        self.events = events
        self.anchors = anchors
        self.slow_ms = slow_ms
        self.elapsed_ms = elapsed_ms
        # Each stack frame's line, written once: the sends of a request share
        # most of their frames (the server's, the middleware's, the view's),
        # and the outer ones every stack starts with are shown once.
        self.frames: dict[tuple[Any, ...], str] = {}
        self.stacks = [event["stack"] for event in events if event["stack"]]
        self.shared = _shared_frames(self.stacks)
        # Each send's badges, and each receiver call's, by (event, receiver).
        self.badges: dict[tuple[int, int | None], dict[str, list[str]]] = {}
        for finding in findings:
            receivers = [None]
            if finding["receiver"] is not None:
                receivers.append(finding["receiver"])
            for receiver in receivers:
                badges = self.badges.setdefault((finding["event"], receiver), {})
                badges.setdefault(finding["code"], []).append(finding["message"])
        # The names of the sends each receiver call made, for its details.
        self.sent: dict[tuple[int, int], list[str]] = {}
        for event in events:
            if event["parent"] is not None and event["parent_receiver"] is not None:
                key = (event["parent"], event["parent_receiver"])
                self.sent.setdefault(key, []).append(_short(event["signal"]))

    def html(self, positions: Iterable[int]) -> SafeString:
        """The ``<li>`` rows of the sends at *positions*."""
        # Every value in them is escaped.
        return mark_safe("".join(self.row(position) for position in positions))

    def row(self, position: int) -> str:
        event = self.events[position]
        calls: list[dict[str, Any]] = event["receivers"]
        errors = sum(1 for call in calls if call["error"])
        failed = errors > 0 or event["error"] is not None
        depth = event["depth"]
        parent = event["parent"]
        search = " ".join(
            [event["signal"], event["sender"], *(call["name"] for call in calls)]
        ).lower()
        classes = f"st-send st-depth-{min(depth, MAX_INDENT)}"
        if failed:
            classes += " st-failed"
        if errors:
            tag = f'<span class="st-tag st-error">{errors} error{_s(errors)}</span>'
        elif event["error"] is not None:
            tag = '<span class="st-tag st-error">raised</span>'
        else:
            tag = ""
        level = (
            f'<span class="st-tag st-level" title="nested {depth} sends deep">'
            f"level {depth}</span>"
            if depth > MAX_INDENT
            else ""
        )
        return (
            f'<li class="{classes}" id="{self.anchors}-{position}" '
            f'data-st-id="{position}" '
            f'data-st-parent="{"" if parent is None else parent}" '
            f'data-st-search="{escape(search)}"><details><summary class="st-row">'
            f'<span class="st-what">{level}'
            f'<code class="st-signal" title="{escape(event["signal"])}">'
            f"{escape(_short(event['signal']))}</code>"
            f'<code class="st-sender" title="sender: {escape(event["sender"])}">'
            f"{escape(event['sender'])}</code>"
            f'<span class="st-method">{escape(event["method"])}</span>'
            f"{tag}{self.badge_tags(position, None)}</span>"
            f'<span class="st-count">{len(calls)}</span>'
            f'<span class="st-duration">{event["duration_ms"]:.3f} ms</span>'
            f"{self.bar(event, failed)}</summary>"
            f'<div class="st-body">{self.body(position, event)}</div></details></li>'
        )

    def bar(self, event: dict[str, Any], failed: bool) -> str:
        """The send's place on the request's timeline: an SVG rectangle.

        Placed by its attributes, not by an inline style (which a strict
        Content-Security-Policy forbids).
        """
        start, duration = event["start_ms"], event["duration_ms"]
        if self.elapsed_ms > 0:
            x = min(max(start / self.elapsed_ms * 100, 0.0), 100 - _MIN_BAR)
            width = min(max(duration / self.elapsed_ms * 100, _MIN_BAR), 100 - x)
        else:
            x, width = 0.0, _MIN_BAR
        warning = " djDebugLineChartWarning" if failed else ""
        return (
            f'<svg class="st-bar djDebugLineChart{warning}" viewBox="0 0 100 5" '
            f'preserveAspectRatio="none" role="img" '
            f'aria-label="from {start:.3f} ms, for {duration:.3f} ms">'
            f'<rect x="{x:.3f}" y="0" width="{width:.3f}" height="5"></rect></svg>'
        )

    def body(self, position: int, event: dict[str, Any]) -> str:
        """What the send's toggle opens: arguments, receivers, origin."""
        parts = [
            f'<p class="st-fullname"><code>{escape(event["signal"])}</code>, '
            f"sender <code>{escape(event['sender'])}</code>, "
            f"<code>{escape(event['method'])}</code> at +{event['start_ms']:.3f} ms"
            f"{self.via(event)}</p>"
        ]
        location = event["location"]
        if location is not None:
            parts.append(
                f'<p class="st-detail">Sent from <code>{escape(location["file"])}:'
                f"{location['line']}</code> in "
                f"<code>{escape(location['function'])}</code></p>"
            )
        if event["error"] is not None:
            parts.append(f'<p class="st-error">Raised {escape(event["error"])}</p>')
        kwargs = event["kwargs"]
        if kwargs:
            parts.append('<dl class="st-kwargs">')
            parts.extend(
                f"<dt>{escape(name)}</dt><dd><code>{escape(str(value))}</code></dd>"
                for name, value in kwargs.items()
            )
            parts.append("</dl>")
        parts.append('<ol class="st-receivers">')
        robust = event["method"] in ("send_robust", "asend_robust")
        for index, call in enumerate(event["receivers"]):
            parts.append(self.receiver(position, index, call, robust, event["method"]))
        if not event["receivers"]:
            parts.append('<li class="st-detail">No receiver.</li>')
        parts.append("</ol>")
        if event["stack"]:
            parts.append(self.stack(event["stack"]))
        return "".join(parts)

    def stack(self, frames: list[dict[str, Any]]) -> str:
        """The stack a send came from, laid out as django-debug-toolbar does.

        Without the outer frames every stack shares (see shared_stack()).
        """
        shared = (
            f", the outer {self.shared} shared by every send (above)"
            if self.shared
            else ""
        )
        summary = f"Stack, {len(frames)} frame{_s(len(frames))}{shared}"
        return self.stack_html("st-stack", summary, frames[self.shared :])

    def shared_stack(self) -> SafeString:
        """The outer frames every recorded stack starts with, once."""
        if not self.shared:
            return mark_safe("")
        summary = (
            f"The outer {self.shared} frame{_s(self.shared)} of every send's stack"
        )
        frames = self.stacks[0][: self.shared]
        return mark_safe(self.stack_html("st-stack st-shared-stack", summary, frames))

    def stack_html(
        self, classes: str, summary: str, frames: list[dict[str, Any]]
    ) -> str:
        """A folded list of *frames*, opened by *summary* (plain text, no markup)."""
        return (
            f'<details class="{classes}"><summary>{summary}</summary>'
            f'<pre class="djdt-stack">{self.frame_lines(frames)}</pre></details>'
        )

    def frame_lines(self, frames: list[dict[str, Any]]) -> str:
        lines = []
        for frame in frames:
            key = (frame["file"], frame["function"], frame["line"], frame.get("code"))
            line = self.frames.get(key)
            if line is None:
                line = self.frames[key] = _frame_line(*key)
            lines.append(line)
        return "".join(lines)

    def via(self, event: dict[str, Any]) -> str:
        parent, receiver = event["parent"], event["parent_receiver"]
        if parent is None:
            return ""
        parent_event = self.events[parent]
        link = (
            f'<a href="#{self.anchors}-{parent}" class="st-parent-link">'
            f"{escape(_short(parent_event['signal']))}</a>"
        )
        if receiver is None or receiver >= len(parent_event["receivers"]):
            return f", sent during {link}"
        name = parent_event["receivers"][receiver]["name"]
        return f", sent by the receiver <code>{escape(name)}</code> of {link}"

    def receiver(
        self,
        position: int,
        index: int,
        call: dict[str, Any],
        robust: bool,
        method: str,
    ) -> str:
        slow = call["duration_ms"] >= self.slow_ms
        parts = [
            f'<li class="st-receiver{" st-failed" if call["error"] else ""}">'
            f'<div class="st-call"><code class="st-name">{escape(call["name"])}</code>'
            f'<span class="st-duration{" st-slow" if slow else ""}">'
            f"{call['duration_ms']:.3f} ms{' slow' if slow else ''}</span>"
        ]
        if call["is_async"]:
            parts.append('<span class="st-tag">async</span>')
        parts.append(self.badge_tags(position, index))
        parts.append("</div>")
        if call["error"]:
            caught = f" (caught by {escape(method)})" if robust else ""
            parts.append(
                f'<p class="st-error">Raised {escape(call["error"])}{caught}</p>'
            )
        elif call["response"] is not None and call["response"] != "None":
            response = escape(str(call["response"]))
            parts.append(f'<p class="st-detail">Returned <code>{response}</code></p>')
        source = call["source"]
        if source is not None:
            parts.append(
                f'<p class="st-detail">Defined in <code>{escape(source["file"])}:'
                f"{source['line']}</code></p>"
            )
        sent = self.sent.get((position, index))
        if sent:
            names = ", ".join(f"<code>{escape(name)}</code>" for name in sent)
            parts.append(f'<p class="st-detail">Sent {names}, below.</p>')
        parts.append("</li>")
        return "".join(parts)

    def badge_tags(self, position: int, receiver: int | None) -> str:
        badges = self.badges.get((position, receiver))
        if not badges:
            return ""
        return "".join(
            f'<span class="st-tag st-finding" title="{escape(chr(10).join(messages))}">'
            f"{escape(code)}</span>"
            for code, messages in badges.items()
        )


def _shared_frames(stacks: list[list[dict[str, Any]]]) -> int:
    """How many outer frames all of *stacks* (two or more) start with.

    Each stack keeps at least its innermost frame of its own.
    """
    if len(stacks) < 2:
        return 0
    first = stacks[0]
    shared = min(len(stack) for stack in stacks) - 1
    for stack in stacks[1:]:
        position = 0
        while position < shared and stack[position] == first[position]:
            position += 1
        shared = position
        if not shared:
            break
    return shared


def _frame_line(file: str, function: str, line: int, code: str | None) -> str:
    """One frame of a stack, its line of source under it when known."""
    directory, separator, basename = file.rpartition("/")
    return (
        f'<span class="djdt-path">{escape(directory + separator)}</span>'
        f'<span class="djdt-file">{escape(basename)}</span> in '
        f'<span class="djdt-func">{escape(function)}</span>'
        f'(<span class="djdt-lineno">{line}</span>)'
        + (f'\n  <span class="djdt-code">{escape(code)}</span>' if code else "")
        + "\n"
    )


def _inside_same(event: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    """Whether *event* was sent inside a send of the same signal and sender."""
    key = (event["signal"], event["sender"])
    parent = event["parent"]
    while parent is not None:
        enclosing = events[parent]
        if (enclosing["signal"], enclosing["sender"]) == key:
            return True
        parent = enclosing["parent"]
    return False


def _breakable(name: str) -> SafeString:
    """*name*, escaped, with a line-break opportunity after each dot."""
    return mark_safe(escape(name).replace(".", ".<wbr>"))


def _short(signal: str) -> str:
    return signal.rpartition(".")[2]


def _s(count: int) -> str:
    return "" if count == 1 else "s"


# -------------------------------------------------------------- the groups


def _groups(trace: dict[str, Any]) -> dict[str, Any]:
    """The sends summed up by signal and sender.

    Each group is ``{"signal", "name", "sender", "sends", "counted",
    "receivers", "errors", "duration_ms"}``: ``duration_ms`` is the time of
    its sends, those made inside another send of the group left out (a chain
    of a signal re-sent from its own receivers is counted once), with
    ``signal_html`` and
    ``sender_html``, the names that a narrow column breaks at their dots
    only, never inside a word; ``sends`` includes the
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
                "name": _short(signal),
                "sender": sender,
                "sends": 0,
                "counted": 0,
                "receivers": 0,
                "errors": 0,
                "duration_ms": 0.0,
            }
        return found

    events: list[dict[str, Any]] = trace["events"]
    for event in events:
        found = group(event["signal"], event["sender"])
        found["sends"] += 1
        found["receivers"] += len(event["receivers"])
        found["errors"] += sum(1 for call in event["receivers"] if call["error"])
        if not _inside_same(event, events):
            found["duration_ms"] += event["duration_ms"]
    for count in trace["counts"]:
        found = group(count["signal"], count["sender"])
        found["sends"] += count["count"]
        found["counted"] += count["count"]
    for found in groups.values():
        found["duration_ms"] = round(found["duration_ms"], 4)
        found["signal_html"] = _breakable(found["signal"])
        found["sender_html"] = _breakable(found["sender"])
    recorded = [found for found in groups.values() if found["counted"] < found["sends"]]
    unreceived = [
        found for found in groups.values() if found["counted"] == found["sends"]
    ]
    return {
        "groups": sorted(recorded, key=lambda found: -found["duration_ms"]),
        "unreceived": sorted(unreceived, key=lambda found: -found["sends"]),
        "unreceived_sends": sum(found["sends"] for found in unreceived),
    }
