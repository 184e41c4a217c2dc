"""Findings: the known pitfalls of signals, pointed at in a trace.

Every guide to Django signals warns about the same things: slow receivers that
should be background work, receivers running many queries or the same query
over and over, chains of signals, a signal re-entering its own receiver,
errors that ``send_robust`` swallows, receivers on ``pre_init``/``post_init``
that run once per row. :func:`find` looks for them in the events of a trace
and returns one :class:`~signaltrace.trace.Finding` per occurrence, with the
send (and receiver) it concerns; ``Trace.to_dict()`` carries them to the
panel, the viewer, the command and the pytest assertions, so all report the
same findings. Thresholds come from the ``SIGNALTRACE`` setting (see
:class:`~signaltrace.conf.Config`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from signaltrace.conf import DEFAULTS, Config
from signaltrace.trace import Finding, SignalEvent, Trace
from signaltrace.values import truncate

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
    "recording-error": "signaltrace itself failed while recording a send (the "
    "send went on as Django's would)",
}

_INIT_SIGNALS = frozenset(
    {"django.db.models.signals.pre_init", "django.db.models.signals.post_init"}
)
_ROBUST = frozenset({"send_robust", "asend_robust"})
#: How much SQL a one-line message quotes.
_SQL_WIDTH = 80


def check_codes(codes: Iterable[str]) -> None:
    """Raise ValueError for a code that is not in :data:`CODES` (a typo)."""
    unknown = sorted(set(codes) - set(CODES))
    if unknown:
        raise ValueError(
            f"Unknown finding code {', '.join(map(repr, unknown))}; "
            f"known codes: {', '.join(CODES)}."
        )


def find(
    trace: Trace | Sequence[SignalEvent], config: Config | None = None
) -> list[Finding]:
    """The findings of a trace, ordered by send, then receiver.

    Arguments:
        trace: a :class:`~signaltrace.trace.Trace`, or a sequence of events
            (``trace.filter(...)``): positions are those in the sequence.
        config: the thresholds; default: the trace's own config, or the
            defaults for a plain sequence.
    """
    if isinstance(trace, Trace):
        events: Sequence[SignalEvent] = trace.events
        config = config or trace.config
        errors = trace.recording_errors
    else:
        events, errors = trace, []
    found = _find(events, config or DEFAULTS)
    order = list(CODES)
    found.sort(
        key=lambda f: (
            -1 if f.event is None else f.event,
            -1 if f.receiver is None else f.receiver,
            order.index(f.code),
        )
    )
    found.extend(
        Finding(
            "recording-error",
            f"signaltrace failed while {error}; the send went on as Django's "
            "would, and what the trace shows of it may be incomplete.",
            None,
        )
        for error in errors
    )
    return found


def _short(event: SignalEvent) -> str:
    return event.name.rpartition(".")[2]


# --------------------------------------------------------------------- rules


def _find(events: Sequence[SignalEvent], config: Config) -> list[Finding]:
    found: list[Finding] = []
    # Whether each send re-enters an outer send of the same signal and sender.
    # Parents come before their children, so one pass fills it.
    reentry: dict[int, bool] = {}
    for index, event in enumerate(events):
        found.extend(_receiver_findings(index, event, config))
        deep = _deep_chain(event, index, config)
        if deep is not None:
            found.append(deep)
        recursion = _recursion(event, index, reentry)
        reentry[id(event)] = recursion is not False
        if isinstance(recursion, Finding):
            found.append(recursion)
    found.extend(_init_receivers(events))
    return found


def _receiver_findings(index: int, event: SignalEvent, config: Config) -> list[Finding]:
    found = []
    for number, call in enumerate(event.receivers):
        where = f"{call.name} on {_short(event)}"
        duration_ms = call.duration * 1000
        if duration_ms >= config.SLOW_RECEIVER_MS:
            found.append(
                Finding(
                    "slow-receiver",
                    f"{where} took {duration_ms:.1f} ms (SLOW_RECEIVER_MS is "
                    f"{config.SLOW_RECEIVER_MS:g}): defer the work with "
                    "transaction.on_commit() or a background task.",
                    index,
                    number,
                )
            )
        stats = call.query_stats
        if stats is not None and stats.count > config.MAX_RECEIVER_QUERIES:
            on = f" on {', '.join(stats.aliases)}" if stats.aliases else ""
            found.append(
                Finding(
                    "receiver-queries",
                    f"{where} ran {stats.count} queries{on} in "
                    f"{stats.time * 1000:.1f} ms (MAX_RECEIVER_QUERIES is "
                    f"{config.MAX_RECEIVER_QUERIES}): fetch what it needs in "
                    "fewer queries, or defer the work.",
                    index,
                    number,
                )
            )
        for sql, count in stats.repeated() if stats is not None else ():
            if count > config.MAX_REPEATED_QUERIES:
                found.append(
                    Finding(
                        "n-plus-one",
                        f"{where} ran the same query {count} times "
                        f"(MAX_REPEATED_QUERIES is {config.MAX_REPEATED_QUERIES}):"
                        f" {truncate(sql, _SQL_WIDTH)}: fetch the rows at once "
                        "with select_related(), prefetch_related() or in_bulk().",
                        index,
                        number,
                    )
                )
        if call.error is not None and event.method in _ROBUST:
            found.append(
                Finding(
                    "swallowed-error",
                    f"{event.method}() of {_short(event)} caught {call.error} from "
                    f"{call.name}: the sender goes on as if nothing failed unless "
                    "it checks the responses.",
                    index,
                    number,
                )
            )
    return found


def _deep_chain(event: SignalEvent, index: int, config: Config) -> Finding | None:
    """A chain too deep, reported at its first send past the limit only."""
    depth = event.depth
    limit = config.MAX_CHAIN_DEPTH
    if depth <= limit or depth - 1 > limit:
        return None
    chain = [_short(ancestor) for ancestor in _ancestry(event)]
    return Finding(
        "deep-chain",
        f"{' -> '.join(reversed(chain))}: a chain of {depth + 1} nested sends "
        f"(MAX_CHAIN_DEPTH is {limit}): call the code the receivers run directly, "
        "so the flow can be followed.",
        index,
    )


def _ancestry(event: SignalEvent) -> list[SignalEvent]:
    """The event, then the send each was made from, out to the top."""
    chain = [event]
    call = event.parent_call
    while call is not None:
        chain.append(call.event)
        call = call.event.parent_call
    return chain


def _recursion(
    event: SignalEvent, index: int, reentry: dict[int, bool]
) -> Finding | bool:
    """Whether *event* re-enters an outer send of the same signal and sender.

    Returns the finding for the first re-entry of a send, True for a deeper
    one (already reported through the first), False for none.
    """
    call = event.parent_call
    while call is not None:
        outer = call.event
        if outer.signal is event.signal and outer.sender_name == event.sender_name:
            if reentry.get(id(outer)):
                return True
            sender = f" from {event.sender_name}" if event.sender_name != "None" else ""
            return Finding(
                "recursion",
                f"{_short(event)}{sender} was sent again while its receiver "
                f"{call.name} was running: guard against re-entry, or change the "
                "rows with QuerySet.update(), which sends no signal.",
                index,
            )
        call = outer.parent_call
    return False


def _init_receivers(events: Sequence[SignalEvent]) -> list[Finding]:
    """One finding per receiver of pre_init/post_init, with its total cost."""
    totals: dict[tuple[str, str], list[Any]] = {}
    for index, event in enumerate(events):
        if not event.receivers or event.name not in _INIT_SIGNALS:
            continue
        for number, call in enumerate(event.receivers):
            key = (_short(event), call.name)
            entry = totals.get(key)
            if entry is None:
                totals[key] = [index, number, 1, call.duration * 1000]
            else:
                entry[2] += 1
                entry[3] += call.duration * 1000
    return [
        Finding(
            "init-receiver",
            f"{name} on {signal} ran {_times(count)}, {total_ms:.1f} ms in all: "
            f"{signal} is sent for every model instance created or loaded, so its "
            "receivers grow with each queryset; move the work elsewhere.",
            index,
            number,
        )
        for (signal, name), (index, number, count, total_ms) in totals.items()
    ]


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")
