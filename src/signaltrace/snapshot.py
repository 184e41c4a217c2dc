"""A deterministic text rendering of captured sends, and snapshot files of it.

The same text is a test's snapshot (``assert_matches_snapshot()``) and the
"Captured signals" section ``pytest --signaltrace`` adds to failing tests::

    django.db.models.signals.post_save  sender=shop.models.Order
        kwargs: instance=<shop.Order #1>, created=True, update_fields=None, ...
        -> shop.receivers.notify_customer
           shop.signals.customer_notified  sender=None
               kwargs: order=<shop.Order #1>
               -> shop.receivers.log_notification
        -> shop.receivers.update_stats  raised shop.errors.StatsDown

It is the text tree of :mod:`signaltrace.render`, one line per fact so that
a diff shows what changed, without anything that varies between runs of the
same code:

- no durations, no memory addresses (``at 0x…`` is removed);
- model instances show a number instead of their primary key: ``#1`` is the
  first instance of that model in the rendering, so primary keys that depend
  on database sequences or test order do not leak in (``pk_set`` of
  ``m2m_changed`` uses the same numbers); unsaved instances show ``pk=None``;
- sets are sorted (as every description of a set is), errors show the
  exception class only (messages often hold ids or addresses);
- sends of ``pre_init``/``post_init`` that reached no receiver are left out:
  one pair comes with every model instance created or fetched, so they would
  tie the snapshot to how many rows a query returns. Every other send is
  kept, including custom signals nobody listens to yet.

Values are the descriptions taken at the sends (masked, cut). Values that
vary by nature (timestamps, random tokens, raw ids passed as integers) make a
snapshot unstable: leave their signals out or normalise the text with
:class:`SnapshotOptions` (under pytest, the ``signaltrace_snapshot_*`` ini
options and the ``signaltrace_snapshot`` marker), pass model instances, or
assert on such sends with ``assert_sent`` and a predicate instead.

The snapshot files themselves (:class:`SnapshotTarget`, :func:`assert_matches`)
are :mod:`signaltrace.snapshot_files`, which imports no Django; their names
are importable from here too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from signaltrace.render import TextOptions, TextTree, filter_trace
from signaltrace.snapshot_files import (
    SnapshotOptions,
    SnapshotTarget,
    assert_matches,
    current_target,
    targeting,
)
from signaltrace.trace import SignalEvent, events_to_dicts
from signaltrace.values import Value

__all__ = [
    "SnapshotOptions",
    "SnapshotTarget",
    "assert_matches",
    "current_target",
    "is_noise",
    "render",
    "targeting",
]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")
#: A model instance as values describes it: ``<blog.Post pk=3>``.
_INSTANCE = re.compile(r"<([\w.]+) pk=((?!None>)[^>]*)>")
#: A model class as values describes it: ``<model blog.Tag>``.
_MODEL = re.compile(r"<model ([\w.]+)>")
_INIT_SIGNALS = frozenset(
    {"django.db.models.signals.pre_init", "django.db.models.signals.post_init"}
)
_NO_OPTIONS = SnapshotOptions()
_OPTIONS = TextOptions(
    durations=False,
    kwargs="line",
    error_type_only=True,
    guides=False,
    always_method=False,
)


def is_noise(event: SignalEvent) -> bool:
    """Whether *event* is a ``pre_init``/``post_init`` send that reached no receiver."""
    return not event.receivers and event.name in _INIT_SIGNALS


def render(
    events: Sequence[SignalEvent],
    *,
    dropped: int = 0,
    options: SnapshotOptions | None = None,
) -> str:
    """The deterministic text of *events* (see the module documentation).

    Events sent from a receiver are shown under it when their parent is among
    *events*, and at the top level otherwise.

    Arguments:
        events: recorded sends in start order, such as ``trace.events``.
        dropped: how many sends were not recorded (``MAX_EVENTS``), to mention.
        options: the signals to leave out and the rules that normalise each
            line; by default those of the running pytest test (its
            :class:`SnapshotTarget`), none outside one.
    """
    if options is None:
        target = current_target()
        options = target.options if target is not None else _NO_OPTIONS
    shown = events_to_dicts([e for e in events if not is_noise(e)], 0.0)
    if options.exclude:
        shown = filter_trace(
            {"events": shown, "counts": []}, exclude_signals=options.exclude
        )["events"]
    numbers = _Numbers()
    for event in shown:
        event["sender"] = numbers.text(event["sender"])
        event["kwargs"] = numbers.kwargs(event["kwargs"])
    lines = TextTree(shown, _OPTIONS).lines() or ["(no signals sent)"]
    if dropped:
        lines.append(f"({dropped} more sends not recorded: MAX_EVENTS reached)")
    lines = [_ADDRESS.sub(_hide_address, line) for line in lines]
    return "\n".join(options.normalized(line) for line in lines) + "\n"


def _hide_address(match: re.Match[str]) -> str:
    return "" if match.group().startswith(" ") else "0x…"


class _Numbers:
    """Numbers the model instances of a rendering, per model, in order of appearance."""

    def __init__(self) -> None:
        # (model label, pk text) -> number, and the last number given per label.
        self.numbers: dict[tuple[str, str], int] = {}
        self.last: dict[str, int] = {}

    def number(self, label: str, pk: str) -> int:
        key = (label, pk)
        number = self.numbers.get(key)
        if number is None:
            number = self.numbers[key] = self.last.get(label, 0) + 1
            self.last[label] = number
        return number

    def text(self, value: Value) -> Any:
        if type(value) is not str:
            return value
        return _INSTANCE.sub(
            lambda match: f"<{match[1]} #{self.number(match[1], match[2])}>",
            value,
        )

    def kwargs(self, kwargs: dict[str, Value]) -> dict[str, Value]:
        stable = {name: self.text(value) for name, value in kwargs.items()}
        model = _MODEL.fullmatch(str(kwargs.get("model")))
        pks = kwargs.get("pk_set")
        if model is not None and type(pks) is str and pks.startswith("{"):
            # m2m_changed's primary keys, numbered like the instances of model.
            items = [item for item in pks[1:-1].split(", ") if item]
            numbers = sorted(self.number(model[1], item) for item in items)
            stable["pk_set"] = "{" + ", ".join(f"#{n}" for n in numbers) + "}"
        return stable
