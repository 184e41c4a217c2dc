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
snapshot unstable: pass model instances, or assert on such sends with
``assert_sent`` and a predicate instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from signaltrace.render import TextOptions, TextTree
from signaltrace.trace import SignalEvent, events_to_dicts
from signaltrace.values import Value

__all__ = [
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


def render(events: Sequence[SignalEvent], *, dropped: int = 0) -> str:
    """The deterministic text of *events* (see the module documentation).

    Events sent from a receiver are shown under it when their parent is among
    *events*, and at the top level otherwise.

    Arguments:
        events: recorded sends in start order, such as ``trace.events``.
        dropped: how many sends were not recorded (``MAX_EVENTS``), to mention.
    """
    shown = events_to_dicts([e for e in events if not is_noise(e)], 0.0)
    numbers = _Numbers()
    for event in shown:
        event["sender"] = numbers.text(event["sender"])
        event["kwargs"] = numbers.kwargs(event["kwargs"])
    lines = TextTree(shown, _OPTIONS).lines() or ["(no signals sent)"]
    if dropped:
        lines.append(f"({dropped} more sends not recorded: MAX_EVENTS reached)")
    return "\n".join(_ADDRESS.sub(_hide_address, line) for line in lines) + "\n"


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


# ------------------------------------------------------------------ snapshots


@dataclass
class SnapshotTarget:
    """Where the running test's snapshots go; the pytest plugin sets one per test.

    Attributes:
        directory: the folder of the snapshot files.
        name: the file name for the test's first snapshot, without ``.txt``;
            later ones in the same test get ``.2``, ``.3``...
        update: rewrite snapshots that differ instead of failing.
        used: how many snapshots the test has asserted so far.
        notes: one line per file written or rewritten, for the test summary.
    """

    directory: Path
    name: str
    update: bool = False
    used: int = 0
    notes: list[str] = field(default_factory=list)

    def next_path(self) -> Path:
        """Return the file for the next snapshot of this test."""
        self.used += 1
        suffix = "" if self.used == 1 else f".{self.used}"
        return self.directory / f"{self.name}{suffix}.txt"


_target: SnapshotTarget | None = None


def current_target() -> SnapshotTarget | None:
    """The target of the running test, or None outside a pytest test."""
    return _target


@contextmanager
def targeting(target: SnapshotTarget) -> Iterator[SnapshotTarget]:
    """Make *target* the current one while the block runs.

    A module global rather than a context variable: the test body may run in
    another context (an event loop's), and pytest runs one test at a time per
    process.
    """
    global _target
    previous, _target = _target, target
    try:
        yield target
    finally:
        _target = previous


def assert_matches(text: str, path: str | PathLike[str] | None = None) -> None:
    """Compare *text* with a snapshot file, writing the file when it is missing.

    Arguments:
        text: the rendering to check, from :func:`render`.
        path: the snapshot file; by default the running test's next one (see
            :class:`SnapshotTarget`).

    Raises:
        AssertionError: with a unified diff, when the file differs (unless the
            target asks for updates, which rewrites the file).
        RuntimeError: when no *path* is given outside a pytest test.
    """
    __tracebackhide__ = True
    target = _target
    if path is not None:
        file = Path(path)
    elif target is not None:
        file = target.next_path()
    else:
        raise RuntimeError(
            "assert_matches_snapshot() names its file after the running pytest "
            "test; outside pytest, pass a path."
        )
    update = target is not None and target.update
    try:
        stored: str | None = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        stored = None
    if stored == text:
        return
    if stored is None or update:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8", newline="\n")
        if target is not None:
            action = "wrote new" if stored is None else "updated"
            target.notes.append(f"{action} snapshot {_display(file)}")
        return
    diff = difflib.unified_diff(
        stored.splitlines(),
        text.splitlines(),
        fromfile=f"{_display(file)} (snapshot)",
        tofile="this run",
        lineterm="",
    )
    raise AssertionError(
        f"The signals sent differ from the snapshot {_display(file)}.\n"
        "Run pytest with --signaltrace-update to accept the new ones.\n"
        + "\n".join(diff)
    )


def _display(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(file)
