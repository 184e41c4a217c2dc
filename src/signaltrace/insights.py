"""Findings: the known pitfalls of signals, pointed at in a trace.

Every guide to Django signals warns about the same things: slow receivers that
should be background work, receivers running many queries or the same query
over and over, chains of signals, a signal re-entering its own receiver,
errors that ``send_robust`` swallows, receivers on ``pre_init``/``post_init``
that run once per row. :func:`find` looks for them in a trace and returns one
:class:`Finding` per occurrence, with the send (and receiver) it concerns.

It works from a live :class:`~signaltrace.trace.Trace` (or a list of its
events) and from the dict of :meth:`~signaltrace.trace.Trace.to_dict`, through
one set of rules over the facts both hold, so the panel, the viewer, the
command and the pytest assertions all report the same findings. Thresholds
come from the ``SIGNALTRACE`` setting (see :class:`~signaltrace.conf.Config`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from signaltrace.conf import DEFAULTS, Config
from signaltrace.values import format_exception, truncate

if TYPE_CHECKING:
    from signaltrace.trace import SignalEvent, Trace

__all__ = ["CODES", "Finding", "check_codes", "find"]

#: Every finding code, with what it means. Codes are stable: tests and
#: ``assert_no_findings()`` name them.
CODES: dict[str, str] = {
    "slow-receiver": "a receiver call took at least SLOW_RECEIVER_MS",
    "receiver-queries": "a receiver call ran more than MAX_RECEIVER_QUERIES queries",
    "n-plus-one": "a receiver call ran the same SQL more than MAX_REPEATED_QUERIES "
    "times",
    "deep-chain": "a send nested more than MAX_CHAIN_DEPTH levels inside receivers",
    "recursion": "a signal re-sent with the same sender inside its own receiver",
    "swallowed-error": "send_robust or asend_robust caught a receiver's error",
    "init-receiver": "a receiver on pre_init or post_init, which run once per "
    "model instance",
}

_INIT_SIGNALS = frozenset(
    {"django.db.models.signals.pre_init", "django.db.models.signals.post_init"}
)
_ROBUST = frozenset({"send_robust", "asend_robust"})
#: How much SQL a one-line message quotes.
_SQL_WIDTH = 80


@dataclass(frozen=True)
class Finding:
    """One pitfall found in a trace.

    Attributes:
        code: what kind of pitfall, one of :data:`CODES`.
        message: one line saying what happened and what to do about it.
        event: the position of the send concerned in the trace's events (in
            ``to_dict()["events"]`` it is the event's ``id``).
        receiver: the position of the receiver call concerned in that send's
            receivers, or None when the finding is about the send itself.
    """

    code: str
    message: str
    event: int
    receiver: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-safe form listed in ``Trace.to_dict()["findings"]``."""
        return {
            "code": self.code,
            "message": self.message,
            "event": self.event,
            "receiver": self.receiver,
        }


def check_codes(codes: Iterable[str]) -> None:
    """Raise ValueError for a code that is not in :data:`CODES` (a typo)."""
    unknown = sorted(set(codes) - set(CODES))
    if unknown:
        raise ValueError(
            f"Unknown finding code {', '.join(map(repr, unknown))}; "
            f"known codes: {', '.join(CODES)}."
        )


def find(
    trace: Trace | Sequence[SignalEvent] | Mapping[str, Any],
    config: Config | None = None,
) -> list[Finding]:
    """Return the findings of a trace, ordered by send, then receiver.

    Arguments:
        trace: a :class:`~signaltrace.trace.Trace`, a sequence of its events
            (``trace.filter(...)``), or the dict of ``Trace.to_dict()``
            (possibly through :func:`signaltrace.render.filter_trace`).
        config: the thresholds; default: the trace's own config, or the
            defaults for a dict or a plain list.
    """
    if isinstance(trace, Mapping):
        events = _facts_from_dict(trace)
    else:
        # A Trace (not importable here: it imports this module) or its events.
        source = cast("Sequence[SignalEvent]", getattr(trace, "events", trace))
        config = config or getattr(trace, "config", None)
        events = _facts_from_events(source, config or DEFAULTS)
    found = _find(events, config or DEFAULTS)
    order = list(CODES)
    found.sort(
        key=lambda f: (
            f.event,
            -1 if f.receiver is None else f.receiver,
            order.index(f.code),
        )
    )
    return found


# --------------------------------------------------------------------- facts


@dataclass(slots=True)
class _Call:
    name: str
    duration_ms: float
    error: str | None
    queries: int
    query_time_ms: float
    aliases: list[str]
    repeated: list[tuple[str, int]]


@dataclass(slots=True)
class _Event:
    signal: str
    sender: str
    method: str
    parent: int | None
    parent_receiver: int | None
    depth: int
    receivers: list[_Call] = field(default_factory=list)

    @property
    def short(self) -> str:
        return self.signal.rpartition(".")[2]


def _facts_from_events(events: Sequence[SignalEvent], config: Config) -> list[_Event]:
    position = {id(event): index for index, event in enumerate(events)}
    facts = []
    for event in events:
        parent_call = event.parent_call
        parent = position.get(id(parent_call.event)) if parent_call else None
        parent_receiver = None
        if parent_call is not None and parent is not None:
            parent_receiver = _index(parent_call.event.receivers, parent_call)
        calls = []
        for call in event.receivers:
            stats = call.query_stats
            calls.append(
                _Call(
                    name=call.name,
                    duration_ms=call.duration * 1000,
                    error=format_exception(call.exception, config)
                    if call.exception is not None
                    else None,
                    queries=stats.count if stats is not None else 0,
                    query_time_ms=stats.time * 1000 if stats is not None else 0.0,
                    aliases=list(stats.aliases) if stats is not None else [],
                    repeated=stats.repeated() if stats is not None else [],
                )
            )
        facts.append(
            _Event(
                signal=event.name,
                sender=event.sender_name,
                method=event.method,
                parent=parent,
                parent_receiver=parent_receiver,
                depth=event.depth,
                receivers=calls,
            )
        )
    return facts


def _index(items: Sequence[object], item: object) -> int | None:
    for position, candidate in enumerate(items):
        if candidate is item:
            return position
    return None


def _facts_from_dict(trace: Mapping[str, Any]) -> list[_Event]:
    # Dicts from before query tracking have no query keys: no queries then.
    return [
        _Event(
            signal=event["signal"],
            sender=event["sender"],
            method=event["method"],
            parent=event["parent"],
            parent_receiver=event.get("parent_receiver"),
            depth=event["depth"],
            receivers=[
                _Call(
                    name=call["name"],
                    duration_ms=call["duration_ms"],
                    error=call["error"],
                    queries=call.get("queries", 0),
                    query_time_ms=call.get("query_time_ms", 0.0),
                    aliases=list(call.get("queries_by_alias", {})),
                    repeated=[
                        (item["sql"], item["count"])
                        for item in call.get("repeated_queries", ())
                    ],
                )
                for call in event["receivers"]
            ],
        )
        for event in trace["events"]
    ]


# --------------------------------------------------------------------- rules


def _find(events: list[_Event], config: Config) -> list[Finding]:
    found: list[Finding] = []
    # Whether each send re-enters an outer send of the same signal and sender.
    # Parents come before their children, so one pass fills it.
    reentry: list[bool] = []
    for index, event in enumerate(events):
        found.extend(_receiver_findings(index, event, config))
        deep = _deep_chain(events, index, config)
        if deep is not None:
            found.append(deep)
        recursion = _recursion(events, index, reentry)
        reentry.append(recursion is not False)
        if isinstance(recursion, Finding):
            found.append(recursion)
    found.extend(_init_receivers(events))
    return found


def _receiver_findings(index: int, event: _Event, config: Config) -> list[Finding]:
    found = []
    for position, call in enumerate(event.receivers):
        where = f"{call.name} on {event.short}"
        if call.duration_ms >= config.SLOW_RECEIVER_MS:
            found.append(
                Finding(
                    "slow-receiver",
                    f"{where} took {call.duration_ms:.1f} ms (SLOW_RECEIVER_MS is "
                    f"{config.SLOW_RECEIVER_MS:g}): defer the work with "
                    "transaction.on_commit() or a background task.",
                    index,
                    position,
                )
            )
        if call.queries > config.MAX_RECEIVER_QUERIES:
            on = f" on {', '.join(call.aliases)}" if call.aliases else ""
            found.append(
                Finding(
                    "receiver-queries",
                    f"{where} ran {call.queries} queries{on} in "
                    f"{call.query_time_ms:.1f} ms (MAX_RECEIVER_QUERIES is "
                    f"{config.MAX_RECEIVER_QUERIES}): fetch what it needs in "
                    "fewer queries, or defer the work.",
                    index,
                    position,
                )
            )
        for sql, count in call.repeated:
            if count > config.MAX_REPEATED_QUERIES:
                found.append(
                    Finding(
                        "n-plus-one",
                        f"{where} ran the same query {count} times "
                        f"(MAX_REPEATED_QUERIES is {config.MAX_REPEATED_QUERIES}):"
                        f" {truncate(sql, _SQL_WIDTH)}: fetch the rows at once "
                        "with select_related(), prefetch_related() or in_bulk().",
                        index,
                        position,
                    )
                )
        if call.error is not None and event.method in _ROBUST:
            found.append(
                Finding(
                    "swallowed-error",
                    f"{event.method}() of {event.short} caught {call.error} from "
                    f"{call.name}: the sender goes on as if nothing failed unless "
                    "it checks the responses.",
                    index,
                    position,
                )
            )
    return found


def _deep_chain(events: list[_Event], index: int, config: Config) -> Finding | None:
    """A chain too deep, reported at its first send past the limit only."""
    event = events[index]
    parent = events[event.parent] if event.parent is not None else None
    limit = config.MAX_CHAIN_DEPTH
    if event.depth <= limit or (parent is not None and parent.depth > limit):
        return None
    chain = [event.short]
    ancestor = parent
    while ancestor is not None:
        chain.append(ancestor.short)
        ancestor = events[ancestor.parent] if ancestor.parent is not None else None
    shown = " -> ".join(reversed(chain))
    if len(chain) <= event.depth:  # its outer sends are not among the events
        shown = f"... -> {shown}"
    return Finding(
        "deep-chain",
        f"{shown}: a chain of {event.depth + 1} nested sends (MAX_CHAIN_DEPTH is "
        f"{limit}): call the code the receivers run directly, so the flow can be "
        "followed.",
        index,
    )


def _recursion(events: list[_Event], index: int, reentry: list[bool]) -> Finding | bool:
    """Whether send *index* re-enters an outer send of the same signal and sender.

    Returns the finding for the first re-entry of a send, True for a deeper
    one (already reported through the first), False for none.
    """
    event = events[index]
    key = (event.signal, event.sender)
    below = index
    ancestor = event.parent
    while ancestor is not None:
        outer = events[ancestor]
        if (outer.signal, outer.sender) == key:
            if reentry[ancestor]:
                return True
            receiver = events[below].parent_receiver
            via = (
                outer.receivers[receiver].name
                if receiver is not None and receiver < len(outer.receivers)
                else "(unknown)"
            )
            sender = f" from {event.sender}" if event.sender != "None" else ""
            return Finding(
                "recursion",
                f"{event.short}{sender} was sent again while its receiver {via} "
                "was running: guard against re-entry, or change the rows with "
                "QuerySet.update(), which sends no signal.",
                index,
            )
        below = ancestor
        ancestor = outer.parent
    return False


def _init_receivers(events: list[_Event]) -> list[Finding]:
    """One finding per receiver of pre_init/post_init, with its total cost."""
    totals: dict[tuple[str, str], list[Any]] = {}
    for index, event in enumerate(events):
        if event.signal not in _INIT_SIGNALS:
            continue
        for position, call in enumerate(event.receivers):
            entry = totals.get((event.short, call.name))
            if entry is None:
                totals[(event.short, call.name)] = [
                    index,
                    position,
                    1,
                    call.duration_ms,
                ]
            else:
                entry[2] += 1
                entry[3] += call.duration_ms
    return [
        Finding(
            "init-receiver",
            f"{name} on {signal} ran {_times(count)}, {total_ms:.1f} ms in all: "
            f"{signal} is sent for every model instance created or loaded, so its "
            "receivers grow with each queryset; move the work elsewhere.",
            index,
            position,
        )
        for (signal, name), (index, position, count, total_ms) in totals.items()
    ]


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")
