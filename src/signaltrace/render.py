"""Rendering a trace as text: the command's tree, failure messages, snapshots.

Everything here works from :meth:`signaltrace.Trace.to_dict` data (or
:func:`signaltrace.trace.events_to_dicts` of some events), never from live
objects: every value in it is the description taken when the signal was sent,
so what the tree shows and what ``--json`` prints cannot disagree. One
:class:`TextTree` lays out sends as text for every text surface, each choosing
what to include. :func:`filter_trace` narrows a trace dict for the command
and the panel. (The HTML of the panel and the viewer is
:mod:`signaltrace.waterfall`.)
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.management.color import Style, no_style

from signaltrace.conf import DEFAULTS
from signaltrace.naming import name_matches, sender_name_matches
from signaltrace.receivers import ConnectedReceiver
from signaltrace.trace import summarize
from signaltrace.values import Value, truncate

__all__ = [
    "REPEAT_LENGTH",
    "TextOptions",
    "TextTree",
    "filter_trace",
    "fit",
    "kwargs_text",
    "render_receivers",
    "render_text",
    "value_text",
    "visible_length",
]

#: Inline keyword arguments: a value longer than this many characters that is
#: the same as at the previous send of the same signal is left out.
REPEAT_LENGTH = 20

# ------------------------------------------------------------------- filters


def filter_trace(
    trace: dict[str, Any],
    *,
    signals: Sequence[str] = (),
    exclude_signals: Sequence[str] = (),
    senders: Sequence[str] = (),
    exclude_senders: Sequence[str] = (),
    min_duration_ms: float | None = None,
) -> dict[str, Any]:
    """Return a copy of a ``to_dict()`` trace keeping only the matching sends.

    Signal and sender names match by the rule of
    :meth:`SignalEvent.matches <signaltrace.trace.SignalEvent.matches>` (its
    name parts, :func:`~signaltrace.naming.name_matches` and
    :func:`~signaltrace.naming.sender_name_matches`; see the docs' "Matching"):
    ``post_save`` matches ``django.db.models.signals.post_save``. A send is
    kept when its signal matches one of *signals* (if any), none of
    *exclude_signals*, its sender one of *senders* (if any) and none of
    *exclude_senders*, and it took at least *min_duration_ms*. The result has
    the same format: events are renumbered, a kept send whose parent was
    dropped hangs from its nearest kept ancestor (or becomes a root),
    ``depth`` is its depth among the kept sends and ``duration_ms`` their
    total. ``counts`` are filtered by signal and sender too, ``findings`` keep
    those of the kept sends. Without any
    criterion the trace is returned unchanged.
    """
    if not (
        signals or exclude_signals or senders or exclude_senders or min_duration_ms
    ):
        return trace

    def signal_kept(name: str) -> bool:
        return (not signals or any(name_matches(name, s) for s in signals)) and not any(
            name_matches(name, s) for s in exclude_signals
        )

    def sender_kept(name: str) -> bool:
        return (
            not senders or any(sender_name_matches(name, s) for s in senders)
        ) and not any(sender_name_matches(name, s) for s in exclude_senders)

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
            if finding["event"] is not None
            else finding
            for finding in trace.get("findings", [])
            if finding["event"] is None or finding["event"] in new_ids
        ],
    }


# ----------------------------------------------------------------- text


def value_text(value: Value) -> str:
    """A description as text: ``None``, ``True``, ``3``, or the string itself.

    Control characters (a terminal escape, a carriage return, a line feed)
    are shown escaped, so that a traced value can neither drive the terminal
    nor fake a line of the output.
    """
    if type(value) is str:
        return _printable(value)
    return repr(value)


def kwargs_text(kwargs: dict[str, Value], *, width: int | None = None) -> str:
    """``name=value, name=value``; each value cut to *width* characters if given."""
    return ", ".join(
        f"{_printable(name)}={_cut(value_text(value), width)}"
        for name, value in kwargs.items()
    )


def _cut(text: str, width: int | None) -> str:
    return text if width is None else truncate(text, width)


def _printable(text: str) -> str:
    """*text* with every character that is not printable shown escaped."""
    if text.isprintable():
        return text
    return "".join(
        character if character.isprintable() else repr(character)[1:-1]
        for character in text
    )


@dataclass(frozen=True)
class TextOptions:
    """What a :class:`TextTree` shows of each send.

    Attributes:
        durations: each send's and receiver's duration (not in snapshots,
            which must not change between runs).
        kwargs: ``"inline"``, a summary on the send's line (cut to
            ``value_width`` per value, ``kwargs_width`` in all);
            ``"labelled"``, in full on the send's line after ``kwargs:``;
            ``"line"``, on a line of its own; ``"each"``, one line per
            keyword argument, in full; ``"none"``.
        details: where each send came from, where each receiver is defined,
            what it returned.
        error_type_only: a receiver's error as its exception class's dotted
            path, without the message (which often holds ids).
        guides: draw the tree with ``├─``/``└─`` guides; else indent.
        always_method: show the send method on every send, not only the
            three other than ``send``.
        slow_ms: receivers taking at least this long are marked slow.
        value_width: ``"inline"`` keyword arguments: each value is cut to
            this many characters.
        kwargs_width: ``"inline"`` keyword arguments: the summary is cut to
            this many characters.
        elide_repeats: ``"inline"`` keyword arguments: leave out each value
            longer than :data:`REPEAT_LENGTH` characters that is the same as
            at the previous send of the same signal among the events laid
            out, and end the summary with ``+N as before`` to count them.
        width: cut every line to this many characters, the cut marked with
            ``…``; None for no limit.
    """

    durations: bool = True
    kwargs: str = "inline"
    details: bool = False
    error_type_only: bool = False
    guides: bool = True
    always_method: bool = True
    slow_ms: float = DEFAULTS.SLOW_RECEIVER_MS
    value_width: int = 40
    kwargs_width: int = 160
    elide_repeats: bool = False
    width: int | None = None


_BRANCH, _LAST, _PIPE, _SPACE = "├─ ", "└─ ", "│  ", "   "
_INDENT = "    "
#: How far a nested send is indented under its receiver: past ``"-> "``.
_NESTED = "   "


class TextTree:
    """Lays out sends as text: one line per send, its receivers under it, and
    under each receiver the sends it made.

    Works on event dicts (:meth:`Trace.to_dict`'s ``events``): an event whose
    ``parent`` is None, or not among them, is a root.
    """

    def __init__(
        self,
        events: Sequence[dict[str, Any]],
        options: TextOptions,
        style: Style | None = None,
    ) -> None:
        self.events = events
        self.options = options
        self.style = style or no_style()
        # (parent event id, receiver index or None) -> child events, in send order.
        self.children: dict[tuple[int, int | None], list[dict[str, Any]]] = {}
        self.roots: list[dict[str, Any]] = []
        ids = {event["id"] for event in events}
        for event in events:
            parent = event["parent"]
            if parent is None or parent not in ids:
                self.roots.append(event)
            else:
                key = (parent, event.get("parent_receiver"))
                self.children.setdefault(key, []).append(event)
        # Event id -> the names of the keyword arguments left out as repeats.
        self.repeats: dict[int, set[str]] = (
            _repeats(events) if options.elide_repeats else {}
        )

    def lines(self) -> list[str]:
        """The whole tree, root by root, each line cut to ``options.width``."""
        lines: list[str] = []
        # Iterative, so that a trace nested as deep as Python allows renders.
        pending: list[tuple[str, Any, str, str]] = [
            ("send", root, "", "") for root in reversed(self.roots)
        ]
        while pending:
            kind, item, lead, prefix = pending.pop()
            if kind == "send":
                later = self._send(item, lead, prefix, lines)
            else:
                later = self._receiver(item[0], item[1], item[2], lead, prefix, lines)
            pending.extend(reversed(later))
        width = self.options.width
        if width is not None:
            return [fit(line, width) for line in lines]
        return lines

    # ----------------------------------------------------------------- sends

    def head(self, event: dict[str, Any], *, kwargs: bool = True) -> str:
        """The one line that names a send (not cut to ``options.width``).

        Without *kwargs*, leave out the keyword arguments (``"inline"`` and
        ``"labelled"``).
        """
        options, style = self.options, self.style
        parts = [
            style.MIGRATE_LABEL(_printable(event["signal"])),
            f"sender={_printable(event['sender'])}",
        ]
        if options.always_method:
            parts.append(event["method"])
        elif event["method"] != "send":
            parts.append(f"[{event['method']}]")
        if options.durations:
            parts.append(_ms(event["duration_ms"]))
        # Before the keyword arguments, which a cut line loses first.
        if not event["receivers"]:
            parts.append("(no receivers)")
        if kwargs and event["kwargs"]:
            if options.kwargs == "inline":
                parts.append(self._inline_kwargs(event))
            elif options.kwargs == "labelled":
                parts.append(f"kwargs: {kwargs_text(event['kwargs'])}")
        return "  ".join(parts)

    def _inline_kwargs(self, event: dict[str, Any]) -> str:
        """The summary of a send's keyword arguments (see :class:`TextOptions`)."""
        options = self.options
        repeated = self.repeats.get(event["id"], ())
        shown = {
            name: value
            for name, value in event["kwargs"].items()
            if name not in repeated
        }
        text = kwargs_text(shown, width=options.value_width)
        if repeated:
            text += f"{', ' if text else ''}+{len(repeated)} as before"
        return truncate(text, options.kwargs_width)

    def _send(
        self, event: dict[str, Any], lead: str, prefix: str, lines: list[str]
    ) -> list[tuple[str, Any, str, str]]:
        """Add a send's lines; return its receivers (and orphans) to lay out."""
        options, style = self.options, self.style
        branches: list[tuple[str, Any]] = [
            ("receiver", (event, index, call))
            for index, call in enumerate(event["receivers"])
        ]
        # Sends whose receiver is not known hang from the send itself.
        branches.extend(
            ("send", child) for child in self.children.get((event["id"], None), ())
        )
        inner = prefix + (
            (_PIPE if branches else _SPACE) if options.guides else _INDENT
        )
        head = self.head(event)
        if (
            options.kwargs == "inline"
            and event["kwargs"]
            and self._too_wide(lead + head)
        ):
            # Keyword arguments that do not fit go on a line of their own.
            lines.append(lead + self.head(event, kwargs=False))
            lines.append(f"{inner}  {self._inline_kwargs(event)}")
        else:
            lines.append(lead + head)
        if options.kwargs == "line" and event["kwargs"]:
            lines.append(f"{inner}kwargs: {kwargs_text(event['kwargs'])}")
        if options.kwargs == "each":
            lines.extend(
                f"{inner}  {_printable(name)}={value_text(value)}"
                for name, value in event["kwargs"].items()
            )
        if options.details and event["location"]:
            lines.append(f"{inner}  sent from {_where(event['location'])}")
        error = event["error"]
        if error and options.guides:
            lines.append(inner + style.ERROR(f"! {_printable(error)}"))
        elif error and all(call["error"] != error for call in event["receivers"]):
            # Without guides, an error a receiver raised shows on that receiver.
            lines.append(f"{inner}send raised {self._error(event)}")
        return self._branches(branches, prefix)

    def _branches(
        self, branches: list[tuple[str, Any]], prefix: str
    ) -> list[tuple[str, Any, str, str]]:
        if not self.options.guides:
            return [
                (kind, item, prefix + _INDENT, prefix + _INDENT)
                for kind, item in branches
            ]
        laid_out = []
        for position, (kind, item) in enumerate(branches):
            last = position == len(branches) - 1
            lead, sub = (_LAST, _SPACE) if last else (_BRANCH, _PIPE)
            laid_out.append((kind, item, prefix + lead, prefix + sub))
        return laid_out

    # ------------------------------------------------------------- receivers

    def _too_wide(self, line: str) -> bool:
        """Whether *line* is wider than ``options.width``."""
        width = self.options.width
        return width is not None and visible_length(line) > width

    def receiver_head(self, call: dict[str, Any], *, error: bool = True) -> str:
        """The one line that names a receiver call; without *error*, leave it out."""
        options, style = self.options, self.style
        name = _printable(call["name"])
        parts = [name if options.guides else f"-> {name}"]
        if options.durations:
            duration = _ms(call["duration_ms"])
            if call["duration_ms"] >= options.slow_ms:
                duration = style.WARNING(f"{duration} slow")
            parts.append(duration)
            if call["is_async"]:
                parts.append("async")
        if call["error"] and error:
            parts.append(style.ERROR(f"raised {self._error(call)}"))
        return "  ".join(parts)

    def _error(self, item: dict[str, Any]) -> str:
        if self.options.error_type_only and item.get("error_type"):
            kind: str = item["error_type"]
            return kind.removeprefix("builtins.")
        return _printable(item["error"])

    def _receiver(
        self,
        event: dict[str, Any],
        index: int,
        call: dict[str, Any],
        lead: str,
        prefix: str,
        lines: list[str],
    ) -> list[tuple[str, Any, str, str]]:
        """Add a receiver's lines; return the sends it made to lay out."""
        children = self.children.get((event["id"], index), [])
        inner = prefix + (_PIPE if children else _SPACE)
        head = self.receiver_head(call)
        if call["error"] and self._too_wide(lead + head):
            # An error that does not fit goes on a line of its own.
            lines.append(lead + self.receiver_head(call, error=False))
            raised = self.style.ERROR(f"raised {self._error(call)}")
            lines.append(f"{inner}  {raised}")
        else:
            lines.append(lead + head)
        if self.options.details:
            if call["source"]:
                lines.append(f"{inner}  defined in {_where(call['source'])}")
            if call["response"] is not None and call["response"] != "None":
                lines.append(f"{inner}  returned {value_text(call['response'])}")
        if self.options.guides:
            return self._branches([("send", child) for child in children], prefix)
        return [
            ("send", child, prefix + _NESTED, prefix + _NESTED) for child in children
        ]


def _repeats(events: Sequence[dict[str, Any]]) -> dict[int, set[str]]:
    """For each event, the keyword arguments it repeats (see ``elide_repeats``)."""
    previous: dict[str, dict[str, Any]] = {}
    repeats: dict[int, set[str]] = {}
    for event in events:
        before = previous.get(event["signal"], {})
        names = {
            name
            for name, value in event["kwargs"].items()
            if name in before
            and type(before[name]) is type(value)
            and before[name] == value
            and len(value_text(value)) > REPEAT_LENGTH
        }
        if names:
            repeats[event["id"]] = names
        previous[event["signal"]] = event["kwargs"]
    return repeats


#: A colour of Django's styles: ``ESC[…m``.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
_RESET = "\x1b[0m"


def visible_length(line: str) -> int:
    """How many characters of *line* show: its length without its colours."""
    if "\x1b" not in line:
        return len(line)
    return len(_COLOUR.sub("", line))


def fit(line: str, width: int) -> str:
    """*line* cut to *width* characters, the cut marked with ``…``.

    Colours (Django's styles) take no room, and one cut inside a colour is
    closed. Each character counts as one column.
    """
    if len(line) <= width:
        return line
    if "\x1b" not in line:
        return truncate(line, width)
    if visible_length(line) <= width:
        return line
    kept: list[str] = []
    room = max(width - 1, 0)
    coloured = False
    position = 0
    for colour in [*_COLOUR.finditer(line), None]:
        end = colour.start() if colour is not None else len(line)
        text = line[position:end]
        if len(text) >= room:
            kept.append(text[:room])
            break
        kept.append(text)
        room -= len(text)
        if colour is None:
            break
        kept.append(colour[0])
        coloured = colour[0] != _RESET
        position = colour.end()
    kept.append("…")
    if coloured:
        kept.append(_RESET)
    return "".join(kept)


def render_text(
    trace: dict[str, Any],
    *,
    style: Style | None = None,
    verbosity: int = 1,
    slow_ms: float = DEFAULTS.SLOW_RECEIVER_MS,
    width: int | None = None,
) -> str:
    """A ``to_dict()`` trace as an indented tree followed by a summary.

    Each send shows its signal, sender, method, duration and a summary of its
    keyword arguments; under it each receiver with its duration and error, and
    under a receiver the sends it made. Verbosity 0 prints the summary alone,
    2 adds every keyword argument in full, where each send came from and where
    each receiver is defined.

    At verbosity 1, a keyword argument's value is cut to 40 characters and
    one longer than :data:`REPEAT_LENGTH` that is the same as at the previous
    send of the same signal is left out (``+N as before`` counts them).

    Arguments:
        trace: the output of ``Trace.to_dict()``, possibly through
            :func:`filter_trace`.
        style: Django's colour style (``BaseCommand.style``); no colour if None.
        verbosity: 0, 1 or 2 (higher counts as 2).
        slow_ms: receivers taking at least this many milliseconds are flagged.
        width: at verbosity 0 and 1, the text fits in this many columns:
            keyword arguments and errors that do not fit on their line go on
            the next, what still does not fit is cut (see :func:`fit`), the
            summary and the findings wrap. None for no limit. Verbosity 2
            shows everything in full.
    """
    if verbosity >= 2:
        width = None
    options = TextOptions(
        kwargs="each" if verbosity >= 2 else "inline",
        details=verbosity >= 2,
        slow_ms=slow_ms,
        elide_repeats=verbosity < 2,
        width=width,
    )
    tree = TextTree(trace["events"], options, style)
    lines = tree.lines() if verbosity > 0 else []
    lines.extend(_summary(trace, tree.style, verbosity, width))
    lines.extend(_findings_section(trace, tree.style, width))
    return "\n".join(lines)


def _summary(
    trace: dict[str, Any], style: Style, verbosity: int, width: int | None
) -> list[str]:
    """The totals (wrapped to *width*), then the counts (cut to it)."""
    totals = summarize(trace)
    errors = totals["errors"]
    error_text = _plural(errors, "error")
    lines = _wrapped(
        [
            style.MIGRATE_HEADING("Summary: ") + _plural(totals["sends"], "send"),
            _plural(totals["receiver_calls"], "receiver call"),
            style.ERROR(error_text) if errors else error_text,
            f"{_ms(totals['signal_ms'])} in signals",
        ],
        width,
    )
    if trace["counts"]:
        lines.append(style.MIGRATE_HEADING("Sends that reached no receiver:"))
        per_signal: dict[str, int] = {}
        for count in trace["counts"]:
            per_signal[count["signal"]] = (
                per_signal.get(count["signal"], 0) + count["count"]
            )
            if verbosity >= 2:
                lines.append(
                    f"  {_printable(count['signal'])}  "
                    f"sender={_printable(count['sender'])}  {count['count']}"
                )
        if verbosity < 2:
            lines.extend(
                f"  {_printable(name)}  {total}" for name, total in per_signal.items()
            )
    if trace["dropped"]:
        lines.append(
            style.WARNING(
                f"Dropped: {_plural(trace['dropped'], 'send')} "
                "after MAX_EVENTS was reached"
            )
        )
    if width is not None:
        return [fit(line, width) for line in lines]
    return lines


def _wrapped(parts: list[str], width: int | None) -> list[str]:
    """*parts* joined with ``", "``, on more lines (indented) if *width* needs."""
    if width is None:
        return [", ".join(parts)]
    lines = [parts[0]]
    for part in parts[1:]:
        joined = f"{lines[-1]}, {part}"
        if visible_length(joined) < width:  # room left for the comma
            lines[-1] = joined
        else:
            lines[-1] += ","
            lines.append(f"    {part}")
    return lines


def _findings_section(
    trace: dict[str, Any], style: Style, width: int | None
) -> list[str]:
    """The findings, each wrapped to *width* (they are sentences, not cut)."""
    found = trace.get("findings", [])
    if not found:
        return []
    lines = [style.MIGRATE_HEADING(f"Findings ({len(found)}):")]
    for finding in found:
        code, message = finding["code"], _printable(finding["message"])
        if width is None:
            lines.append(f"  {style.WARNING(code)}  {message}")
            continue
        wrapped = textwrap.wrap(
            f"  {code}  {message}",
            width,
            subsequent_indent="      ",
            break_on_hyphens=False,
            drop_whitespace=True,
        )
        first = wrapped[0]
        if first.startswith(f"  {code}"):
            first = f"  {style.WARNING(code)}{first[len(code) + 2 :]}"
        lines.extend([first, *wrapped[1:]])
    return lines


def _ms(value: float) -> str:
    return f"{value:.3f} ms"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _where(location: dict[str, Any]) -> str:
    text = f"{location['file']}:{location['line']}"
    function = location.get("function")
    return _printable(f"{text} in {function}" if function else text)


# ----------------------------------------------------------- receivers list


def render_receivers(
    receivers: Iterable[ConnectedReceiver],
    *,
    style: Style | None = None,
    width: int | None = None,
) -> str:
    """Return the receivers grouped by signal, one line per receiver.

    Each line gives the receiver's dotted name, where it is defined, the
    sender it is limited to (``any`` when none), weak or strong, sync or
    async, and the ``dispatch_uid`` when one was given. With a *width*, a
    line too long shows as much of the end of the file's path as leaves room
    for the rest (``(…/auth/management/__init__.py:35)``, down to ``(…)``),
    and is then cut if it must (see :func:`fit`).
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
            lines.append(style.MIGRATE_LABEL(_printable(current)))
        total += 1
        source = connected.source
        where = f"{_printable(source.filename)}:{source.lineno}" if source else ""
        parts = [
            "  " + _printable(connected.name),
            f"({where})" if source else "(source unknown)",
            f"sender={_printable(connected.sender or 'any')}",
            "weak" if connected.weak else "strong",
            "async" if connected.is_async else "sync",
        ]
        if connected.dispatch_uid is not None:
            parts.append(f"dispatch_uid={_printable(connected.dispatch_uid)}")
        line = "  ".join(parts)
        if width is not None and len(line) > width and source:
            # The end of the path (file and line) is what tells most.
            room = max(width - (len(line) - len(where)), 1)
            parts[1] = f"(…{where[len(where) - room + 1 :] if room > 1 else ''})"
            line = "  ".join(parts)
        lines.append(line)
    lines.append(
        style.MIGRATE_HEADING("Summary: ")
        + f"{_plural(total, 'receiver')} on {_plural(signal_count, 'signal')}"
    )
    if width is not None:
        return "\n".join(fit(line, width) for line in lines)
    return "\n".join(lines)
