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

One line per fact, so that a diff shows what changed. The text holds nothing
that varies between runs of the same code:

- no durations, no memory addresses (``at 0x…`` is removed);
- model instances show a number instead of their primary key: ``#1`` is the
  first instance of that model in the rendering, so primary keys that depend
  on database sequences or test order do not leak in (``pk_set`` of
  ``m2m_changed`` uses the same numbers); unsaved instances show ``pk=None``;
- sets are sorted, errors show the exception class only (messages often hold
  ids or addresses);
- sends of ``pre_init``/``post_init`` that reached no receiver are left out:
  one pair comes with every model instance created or fetched, so they would
  tie the snapshot to how many rows a query returns. Every other send is
  kept, including custom signals nobody listens to yet.

Values are still shown through :func:`signaltrace.values.safe_kwargs` (masked,
truncated). Values that vary by nature (timestamps, random tokens, raw ids
passed as integers) make a snapshot unstable: pass model instances, or assert
on such sends with ``assert_sent`` and a predicate instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db.models import Model
from django.db.models.signals import post_init, pre_init
from django.utils.functional import LazyObject, empty

from signaltrace.conf import DEFAULTS, Config
from signaltrace.values import safe_kwargs, safe_repr

if TYPE_CHECKING:
    from signaltrace.trace import ReceiverCall, SignalEvent

__all__ = [
    "SnapshotTarget",
    "assert_matches",
    "current_target",
    "is_noise",
    "render",
    "targeting",
]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")
_INDENT = "    "
#: How far a nested send is indented under its receiver: past ``"-> "``.
_NESTED = "   "


def is_noise(event: SignalEvent) -> bool:
    """Whether *event* is a ``pre_init``/``post_init`` send that reached no receiver."""
    return not event.receivers and (
        event.signal is pre_init or event.signal is post_init
    )


def render(
    events: Sequence[SignalEvent], config: Config = DEFAULTS, *, dropped: int = 0
) -> str:
    """Return the deterministic text of *events* (see the module documentation).

    Events sent from a receiver are shown under it when their parent is among
    *events*, and at the top level otherwise.

    Arguments:
        events: recorded sends in start order, such as ``trace.events``.
        config: the settings used to mask and truncate values.
        dropped: how many sends were not recorded (``MAX_EVENTS``), to mention.
    """
    shown = [event for event in events if not is_noise(event)]
    ids = {id(event) for event in shown}
    renderer = _Renderer(config, ids)
    for event in shown:
        parent = event.parent
        if parent is None or id(parent) not in ids:
            renderer.event(event, "")
    lines = renderer.lines or ["(no signals sent)"]
    if dropped:
        lines.append(f"({dropped} more sends not recorded: MAX_EVENTS reached)")
    return "\n".join(_ADDRESS.sub(_hide_address, line) for line in lines) + "\n"


def _hide_address(match: re.Match[str]) -> str:
    return "" if match.group().startswith(" ") else "0x…"


class _Shown:
    """A value already turned into text, shown as is by ``safe_repr``."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _Renderer:
    def __init__(self, config: Config, ids: set[int]) -> None:
        self.config = config
        self.ids = ids
        self.lines: list[str] = []
        # (model label, pk) -> number, and the last number given per label.
        self.numbers: dict[tuple[str, Any], int] = {}
        self.last: dict[str, int] = {}

    # ---------------------------------------------------------------- tree

    def event(self, event: SignalEvent, indent: str) -> None:
        line = f"{indent}{event.name}  sender={self.sender(event)}"
        if event.method != "send":
            line += f"  [{event.method}]"
        if not event.receivers:
            line += "  (no receivers)"
        self.lines.append(line)
        if event.kwargs:
            shown = safe_kwargs(self.kwargs(event.kwargs), self.config)
            text = ", ".join(f"{name}={value}" for name, value in shown.items())
            self.lines.append(f"{indent}{_INDENT}kwargs: {text}")
        for call in event.receivers:
            self.call(call, indent + _INDENT)
        error = event.exception
        if error is not None and all(
            call.exception is not error for call in event.receivers
        ):
            self.lines.append(f"{indent}{_INDENT}send raised {_exception_name(error)}")

    def call(self, call: ReceiverCall, indent: str) -> None:
        line = f"{indent}-> {call.name}"
        if call.exception is not None:
            line += f"  raised {_exception_name(call.exception)}"
        self.lines.append(line)
        for child in call.children:
            if id(child) in self.ids:
                self.event(child, indent + _NESTED)

    # -------------------------------------------------------------- values

    def sender(self, event: SignalEvent) -> str:
        sender = event.sender
        if isinstance(sender, Model):
            return self.instance(sender)
        return event.sender_name

    def number(self, label: str, pk: Any) -> int:
        key = (label, pk)
        number = self.numbers.get(key)
        if number is None:
            number = self.numbers[key] = self.last.get(label, 0) + 1
            self.last[label] = number
        return number

    def instance(self, instance: Model) -> str:
        meta = type(instance)._meta
        # Read from __dict__: the pk property may be deferred, and must not query.
        pk = instance.__dict__.get(meta.pk.attname) if meta.pk is not None else None
        if pk is None:
            return f"<{meta.label} pk=None>"
        try:
            return f"<{meta.label} #{self.number(meta.label, pk)}>"
        except TypeError:  # an unhashable primary key value
            return f"<{meta.label}>"

    def kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        model = kwargs.get("model")
        stable: dict[str, Any] = {}
        for name, value in kwargs.items():
            if (
                name == "pk_set"
                and type(value) in (set, frozenset)
                and isinstance(model, type)
                and issubclass(model, Model)
            ):
                stable[name] = self.pk_set(model, value)
            else:
                stable[name] = self.value(value, self.config.MAX_DEPTH)
        return stable

    def pk_set(self, model: type[Model], pks: set[Any] | frozenset[Any]) -> _Shown:
        """m2m_changed's primary keys, numbered like the instances of *model*."""
        if not pks:
            return _Shown("set()")
        try:
            ordered = sorted(pks)
        except TypeError:
            ordered = sorted(pks, key=repr)
        label = model._meta.label
        numbers = sorted(self.number(label, pk) for pk in ordered)
        return _Shown("{" + ", ".join(f"#{number}" for number in numbers) + "}")

    def value(self, value: Any, depth: int) -> Any:
        """Return *value* with model instances numbered and sets sorted."""
        cls = type(value)
        if issubclass(cls, Model):
            return _Shown(self.instance(value))
        if issubclass(cls, LazyObject):  # type(): never evaluate a lazy object
            wrapped = value.__dict__.get("_wrapped", empty)
            return value if wrapped is empty else self.value(wrapped, depth)
        if depth <= 0:
            return value
        limit = self.config.MAX_ITEMS
        if cls is list or cls is tuple:
            items = [self.value(item, depth - 1) for item in value[:limit]]
            return cls([*items, *value[limit:]])
        if cls is dict:
            return {
                key: self.value(item, depth - 1) if position < limit else item
                for position, (key, item) in enumerate(value.items())
            }
        if cls is set or cls is frozenset:
            return self.set(value, depth)
        return value

    def set(self, value: set[Any] | frozenset[Any], depth: int) -> _Shown:
        if not value:
            return _Shown("set()" if type(value) is set else "frozenset()")
        items = sorted(
            safe_repr(self.value(item, depth - 1), self.config) for item in value
        )
        limit = self.config.MAX_ITEMS
        if len(items) > limit:
            items = [*items[:limit], f"…+{len(items) - limit}"]
        body = "{" + ", ".join(items) + "}"
        return _Shown(body if type(value) is set else f"frozenset({body})")


def _exception_name(error: BaseException) -> str:
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


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
