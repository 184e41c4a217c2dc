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

A finding is advice, so it is made for code its reader can change. The
findings about receivers of Django, the standard library or an installed
package (see :func:`is_library_file`) are summed up, one
``library-receivers`` finding per code, unless ``LIBRARY_FINDINGS`` (or
``find(include_libraries=True)``) asks for them one by one. Query advice
follows the statement repeated: ``bulk_create()`` for INSERTs,
``select_related()`` for SELECTs, and so on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from signaltrace.conf import DEFAULTS, Config
from signaltrace.sources import is_library_file
from signaltrace.sql import QueryStats
from signaltrace.trace import Finding, ReceiverCall, SignalEvent, Trace
from signaltrace.values import truncate

__all__ = ["CODES", "Finding", "check_codes", "find", "is_library_file"]

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
    "library-receivers": "the findings of one code about receivers of Django, the "
    "standard library or installed packages, summed up (LIBRARY_FINDINGS lists "
    "them one by one)",
    "recording-error": "signaltrace itself failed while recording a send (the "
    "send went on as Django's would)",
}

_INIT_SIGNALS = frozenset(
    {"django.db.models.signals.pre_init", "django.db.models.signals.post_init"}
)
_ROBUST = frozenset({"send_robust", "asend_robust"})
#: How much SQL a one-line message quotes.
_SQL_WIDTH = 80
#: Most receivers a ``library-receivers`` finding names; the rest are counted.
_MAX_NAMED = 5


def check_codes(codes: Iterable[str]) -> None:
    """Raise ValueError for a code that is not in :data:`CODES` (a typo)."""
    unknown = sorted(set(codes) - set(CODES))
    if unknown:
        raise ValueError(
            f"Unknown finding code {', '.join(map(repr, unknown))}; "
            f"known codes: {', '.join(CODES)}."
        )


def find(
    trace: Trace | Sequence[SignalEvent],
    config: Config | None = None,
    *,
    include_libraries: bool | None = None,
) -> list[Finding]:
    """The findings of a trace, ordered by send, then receiver.

    Arguments:
        trace: a :class:`~signaltrace.trace.Trace`, or a sequence of events
            (``trace.filter(...)``): positions are those in the sequence.
        config: the thresholds; default: the trace's own config, or the
            defaults for a plain sequence.
        include_libraries: whether the findings about receivers of Django,
            the standard library and installed packages are listed one by one
            (True) or summed up in one ``library-receivers`` finding per code
            (False); default: the config's ``LIBRARY_FINDINGS``.
    """
    if isinstance(trace, Trace):
        events: Sequence[SignalEvent] = trace.events
        config = config or trace.config
        errors = trace.recording_errors
    else:
        events, errors = trace, []
    config = config or DEFAULTS
    if include_libraries is None:
        include_libraries = config.LIBRARY_FINDINGS
    occurrences = _find(events, config)
    if include_libraries:
        found = [occurrence.finding for occurrence in occurrences]
    else:
        found = _summarize_libraries(occurrences)
    order = list(CODES)
    found.sort(key=lambda f: (*_position(f), order.index(f.code)))
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


def _position(finding: Finding) -> tuple[int, int]:
    """Where a finding stands: its send, then its receiver (-1 for none)."""
    return (
        -1 if finding.event is None else finding.event,
        -1 if finding.receiver is None else finding.receiver,
    )


def _short(event: SignalEvent) -> str:
    return event.name.rpartition(".")[2]


class _Occurrence(NamedTuple):
    """A finding, with the receiver calls it is about."""

    finding: Finding
    #: The calls whose code the finding asks to change: the receiver call, or
    #: for a send, the calls it was made from. The one its message names
    #: comes first. Empty when it concerns no receiver.
    calls: Sequence[ReceiverCall]


# --------------------------------------------------------------------- rules


def _find(events: Sequence[SignalEvent], config: Config) -> list[_Occurrence]:
    found: list[_Occurrence] = []
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
        if isinstance(recursion, _Occurrence):
            found.append(recursion)
    found.extend(_init_receivers(events))
    return found


def _receiver_findings(
    index: int, event: SignalEvent, config: Config
) -> list[_Occurrence]:
    return [
        _Occurrence(finding, (call,))
        for number, call in enumerate(event.receivers)
        for finding in _call_findings(event, index, call, number, config)
    ]


def _call_findings(
    event: SignalEvent, index: int, call: ReceiverCall, number: int, config: Config
) -> list[Finding]:
    """The findings about one receiver call, *number* of the send at *index*."""
    found = []
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
        found.append(_receiver_queries(where, stats, config, index, number))
    for sql, count in stats.repeated() if stats is not None else ():
        if count > config.MAX_REPEATED_QUERIES:
            advice = _ADVICE.get(_statement(sql), _ONCE_FOR_ALL)
            found.append(
                Finding(
                    "n-plus-one",
                    f"{where} ran the same query {count} times "
                    f"(MAX_REPEATED_QUERIES is {config.MAX_REPEATED_QUERIES}):"
                    f" {truncate(sql, _SQL_WIDTH)}: {advice}.",
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


def _receiver_queries(
    where: str, stats: QueryStats, config: Config, index: int, number: int
) -> Finding:
    """The ``receiver-queries`` finding, advising on its most frequent statement."""
    on = f" on {', '.join(stats.aliases)}" if stats.aliases else ""
    by_statement: dict[str, int] = {}
    for sql, count in stats.sql.items():
        statement = _statement(sql)
        if statement in _ADVICE:
            by_statement[statement] = by_statement.get(statement, 0) + count
    kind, advice = "", "fetch what it needs in fewer queries"
    if by_statement:
        # The most frequent statement; ties go to the first in _ADVICE.
        statement = max(
            (s for s in _ADVICE if s in by_statement), key=by_statement.__getitem__
        )
        share = by_statement[statement]
        kind = f", {'all' if share == stats.count else share} of them {statement}s"
        advice = _ADVICE[statement]
    return Finding(
        "receiver-queries",
        f"{where} ran {stats.count} queries{on} in {stats.time * 1000:.1f} ms "
        f"(MAX_RECEIVER_QUERIES is {config.MAX_RECEIVER_QUERIES}){kind}: "
        f"{advice}, or defer the work.",
        index,
        number,
    )


def _deep_chain(event: SignalEvent, index: int, config: Config) -> _Occurrence | None:
    """A chain too deep, reported at its first send past the limit only."""
    depth = event.depth
    limit = config.MAX_CHAIN_DEPTH
    if depth <= limit or depth - 1 > limit:
        return None
    chain = _ancestry(event)
    names = [_short(ancestor) for ancestor in chain]
    finding = Finding(
        "deep-chain",
        f"{' -> '.join(reversed(names))}: a chain of {depth + 1} nested sends "
        f"(MAX_CHAIN_DEPTH is {limit}): call the code the receivers run directly, "
        "so the flow can be followed.",
        index,
    )
    # The receivers that made the nested sends, innermost first.
    calls = [ancestor.parent_call for ancestor in chain]
    return _Occurrence(finding, [call for call in calls if call is not None])


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
) -> _Occurrence | bool:
    """Whether *event* re-enters an outer send of the same signal and sender.

    Returns the finding for the first re-entry of a send, True for a deeper
    one (already reported through the first), False for none.
    """
    calls: list[ReceiverCall] = []
    call = event.parent_call
    while call is not None:
        calls.append(call)
        outer = call.event
        if outer.signal is event.signal and outer.sender_name == event.sender_name:
            if reentry.get(id(outer)):
                return True
            sender = f" from {event.sender_name}" if event.sender_name != "None" else ""
            finding = Finding(
                "recursion",
                f"{_short(event)}{sender} was sent again while its receiver "
                f"{call.name} was running: guard against re-entry, or change the "
                "rows with QuerySet.update(), which sends no signal.",
                index,
            )
            # The outer receiver first, then those between it and the re-send.
            return _Occurrence(finding, [call, *calls[:-1]])
        call = outer.parent_call
    return False


def _init_receivers(events: Sequence[SignalEvent]) -> list[_Occurrence]:
    """One finding per receiver of pre_init/post_init, with its total cost."""
    totals: dict[tuple[str, str], list[Any]] = {}
    for index, event in enumerate(events):
        if not event.receivers or event.name not in _INIT_SIGNALS:
            continue
        for number, call in enumerate(event.receivers):
            key = (_short(event), call.name)
            entry = totals.get(key)
            if entry is None:
                totals[key] = [index, number, 1, call.duration * 1000, call]
            else:
                entry[2] += 1
                entry[3] += call.duration * 1000
    return [
        _Occurrence(
            Finding(
                "init-receiver",
                f"{name} on {signal} ran {_times(count)}, {total_ms:.1f} ms in all: "
                f"{signal} is sent for every model instance created or loaded, so "
                "its receivers grow with each queryset; move the work elsewhere.",
                index,
                number,
            ),
            (first_call,),
        )
        for (signal, name), (index, number, count, total_ms, first_call) in (
            totals.items()
        )
    ]


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


# ------------------------------------------------------------ query advice

#: What to do about many queries of one kind, by the statement's first word.
#: The bulk methods and QuerySet.update() send no signals, which a reader of
#: signal findings needs to know before trading one for the other.
_ADVICE = {
    "SELECT": "fetch the rows at once with select_related(), prefetch_related() "
    "or in_bulk()",
    "INSERT": "create the rows in one query with bulk_create() (which sends no "
    "save signals)",
    "UPDATE": "save the rows in one query with bulk_update() or QuerySet.update() "
    "(which send no save signals)",
    "DELETE": "delete the rows at once with a QuerySet's delete(), e.g. "
    "filter(pk__in=...).delete()",
}
#: The advice for a repeated statement of another kind.
_ONCE_FOR_ALL = "run it once for all the rows rather than once per row"
_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z]+)")


def _statement(sql: str) -> str:
    """The first keyword of *sql*, upper-case: ``"SELECT"``, ``"INSERT"``…"""
    match = _FIRST_WORD.match(sql)
    return match.group(1).upper() if match else ""


# ------------------------------------------------------------ library code


def _summarize_libraries(occurrences: list[_Occurrence]) -> list[Finding]:
    """The findings about project code, then one per code about library code.

    A finding is about library code when every receiver call it concerns
    runs code of a library (:func:`is_library_file`). A summary stands at
    the place (send and receiver) of the first finding it sums up.
    """
    found: list[Finding] = []
    summed: dict[str, list[_Occurrence]] = {}
    for occurrence in occurrences:
        calls = occurrence.calls
        if calls and all(_in_library(call) for call in calls):
            summed.setdefault(occurrence.finding.code, []).append(occurrence)
        else:
            found.append(occurrence.finding)
    found.extend(_library_summary(code, group) for code, group in summed.items())
    return found


def _library_summary(code: str, group: list[_Occurrence]) -> Finding:
    by_receiver: dict[str, int] = {}
    for occurrence in group:
        name = occurrence.calls[0].name
        by_receiver[name] = by_receiver.get(name, 0) + 1
    # The most flagged first; sorted() keeps the others in order of appearance.
    named = [
        f"{name} ({count})"
        for name, count in sorted(by_receiver.items(), key=lambda item: -item[1])
    ]
    if len(named) > _MAX_NAMED:
        named[_MAX_NAMED - 1 :] = [f"{len(named) - _MAX_NAMED + 1} more receivers"]
    first = min((occurrence.finding for occurrence in group), key=_position)
    findings = "finding" if len(group) == 1 else "findings"
    return Finding(
        "library-receivers",
        f"{len(group)} {code} {findings} about receivers of Django, the standard "
        f"library or installed packages, summed up here as their code is not "
        f"the project's: {', '.join(named)}. Set SIGNALTRACE['LIBRARY_FINDINGS'] "
        "to True to list them one by one.",
        first.event,
        first.receiver,
    )


def _in_library(call: ReceiverCall) -> bool:
    source = call.info.source
    return source is not None and is_library_file(source[0])
