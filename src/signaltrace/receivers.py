"""Connected receivers, and the signals and senders known in the process.

Signals are found the way :mod:`signaltrace.naming` names them, by looking at
the globals of every loaded module, so the project's own signals are listed
without anyone naming them. Receivers are read from ``Signal.receivers``,
whose entries changed shape across Django versions:

- 4.2: ``(lookup_key, receiver)``;
- 5.0 to 5.2: ``(lookup_key, receiver, is_async)``;
- 6.0 and later: ``(lookup_key, receiver, sender_ref, is_async)``.

``lookup_key`` is ``(dispatch_uid or id(receiver), id(sender))``; ``receiver``
is a weak reference unless the receiver was connected with ``weak=False``.
Reading the list never changes it and never calls a receiver.

:func:`unknown_signal` and :func:`unknown_sender` tell a typo from a name that
was simply not sent: the command's filters and the assertions refuse a name
that matches nothing known in the process, suggesting the closest names.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.dispatch import Signal
from django.dispatch.dispatcher import (  # type: ignore[attr-defined]
    NONE_ID,
    _make_id,
)

from signaltrace import naming
from signaltrace.conf import DEFAULTS
from signaltrace.trace import Location
from signaltrace.values import describer, safe_repr

__all__ = [
    "ConnectedReceiver",
    "LiveEntry",
    "connected_receivers",
    "find_signals",
    "live_entries",
    "signal_names",
    "unknown_sender",
    "unknown_signal",
]


class LiveEntry(NamedTuple):
    """One entry of ``Signal.receivers`` whose receiver (and sender) still live."""

    #: The receiver itself, dereferenced.
    receiver: Any
    #: Whether Django holds it through a weak reference.
    weak: bool
    #: ``(dispatch_uid or id(receiver), id(sender))``.
    lookup_key: tuple[Any, Any]
    #: The sender on Django 6.0+ when it is held weakly, else None (older
    #: versions keep only its id, in ``lookup_key``).
    sender: object
    #: Whether Django awaits it (False on Django 4.2).
    is_async: bool


def live_entries(signal: Signal) -> list[LiveEntry]:
    """The live entries of *signal*, in the order Django calls them.

    Entries whose receiver or sender was garbage collected are skipped, as
    Django skips them when sending. The list is copied under the signal's
    lock and never changed.
    """
    with signal.lock:
        entries = list(signal.receivers)
    live = []
    for entry in entries:
        reference = entry[1]
        weak = issubclass(type(reference), weakref.ReferenceType)
        receiver = reference() if weak else reference
        if receiver is None:
            continue
        sender = None
        if len(entry) == 4 and entry[2] is not None:
            sender = entry[2]()
            if sender is None:
                continue
        is_async = bool(entry[-1]) if len(entry) >= 3 else False
        live.append(LiveEntry(receiver, weak, entry[0], sender, is_async))
    return live


@dataclass(frozen=True)
class ConnectedReceiver:
    """One live entry of a signal's receivers.

    Attributes:
        signal: the signal's dotted path.
        name: the receiver's dotted name (see :func:`naming.callable_name`).
        source: where the receiver's code is defined, when known.
        sender: the name of the only sender it listens to, or None for any sender.
        weak: whether Django holds it through a weak reference.
        dispatch_uid: the ``dispatch_uid`` it was connected with, if any.
        is_async: whether Django awaits it (always False on Django 4.2, which
            calls every receiver synchronously).
    """

    signal: str
    name: str
    source: Location | None
    sender: str | None
    weak: bool
    dispatch_uid: str | None
    is_async: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-safe form printed by ``signaltrace --receivers --json``."""
        return {
            "signal": self.signal,
            "receiver": self.name,
            "source": self.source.to_dict() if self.source else None,
            "sender": self.sender,
            "weak": self.weak,
            "dispatch_uid": self.dispatch_uid,
            "is_async": self.is_async,
        }


def find_signals() -> list[Signal]:
    """Return every Signal bound to a global of a loaded module, sorted by name."""
    return sorted(_scan_modules()[0], key=naming.signal_name)


def connected_receivers(
    *,
    signals: Sequence[str] = (),
    exclude_signals: Sequence[str] = (),
    senders: Sequence[str] = (),
) -> list[ConnectedReceiver]:
    """Return the live receivers of every signal found in the loaded modules.

    Signals come in name order, receivers in the order Django calls them.
    Entries whose receiver or sender was garbage collected are skipped, as
    Django skips them when sending. Names match as everywhere else (see
    :func:`signaltrace.naming.name_matches` and
    :func:`~signaltrace.naming.sender_name_matches`).

    Arguments:
        signals: only list these signals (dotted paths or their last part).
        exclude_signals: leave these signals out (same matching).
        senders: only list the receivers a send from one of these senders
            reaches: those connected for it, and those connected for any
            sender.
    """
    found, objects = _scan_modules()
    sender_names = _SenderNames(objects)
    listed: list[ConnectedReceiver] = []
    for name, signal in sorted(
        ((naming.signal_name(signal), signal) for signal in found),
        key=lambda pair: pair[0],
    ):
        if signals and not any(naming.name_matches(name, s) for s in signals):
            continue
        if any(naming.name_matches(name, s) for s in exclude_signals):
            continue
        for entry in live_entries(signal):
            connected = _describe(name, entry, sender_names)
            if senders and not _reaches(connected, senders):
                continue
            listed.append(connected)
    return listed


def _reaches(connected: ConnectedReceiver, senders: Sequence[str]) -> bool:
    """Whether a send from one of *senders* (names) reaches *connected*."""
    return connected.sender is None or any(
        naming.sender_name_matches(connected.sender, wanted) for wanted in senders
    )


def _describe(
    signal_name: str, entry: LiveEntry, sender_names: _SenderNames
) -> ConnectedReceiver:
    """Describe one live entry of a signal named *signal_name*."""
    receiver = entry.receiver
    uid_or_id, sender_id = entry.lookup_key
    if entry.sender is not None:
        sender_label: str | None = describer(DEFAULTS).sender(entry.sender)
    else:
        sender_label = sender_names.name(sender_id)
    dispatch_uid = None
    if uid_or_id != _make_id(receiver):
        dispatch_uid = uid_or_id if type(uid_or_id) is str else safe_repr(uid_or_id)
    found = naming.source_location(receiver)
    return ConnectedReceiver(
        signal=signal_name,
        name=naming.callable_name(receiver),
        source=Location(*found) if found else None,
        sender=sender_label,
        weak=entry.weak,
        dispatch_uid=dispatch_uid,
        is_async=entry.is_async,
    )


class _SenderNames:
    """Names a sender known only by its id (Django before 6.0 keeps no reference).

    Those versions match senders by id when sending, so the live object with
    that id is, for dispatch, the sender: a model, an app config or any object
    bound to a module global.
    """

    def __init__(self, objects: dict[int, object]) -> None:
        self._objects = objects
        self._registry: dict[int, object] | None = None

    def name(self, sender_id: object) -> str | None:
        if sender_id == NONE_ID:
            return None
        if type(sender_id) is int:
            sender = self._lookup(sender_id)
            if sender is not None:
                return describer(DEFAULTS).sender(sender)
            return f"<unknown sender id={sender_id:#x}>"
        return f"<unknown sender id={sender_id!r}>"

    def _lookup(self, sender_id: int) -> object | None:
        if self._registry is None:
            self._registry = _registered_senders()
        found = self._registry.get(sender_id)
        if found is None:
            found = self._objects.get(sender_id)
        return found


def _registered_senders() -> dict[int, object]:
    """Models (auto-created ones included) and app configs, by id."""
    from django.apps import apps

    if not apps.ready:
        return {}
    senders: dict[int, object] = {}
    for model in apps.get_models(include_auto_created=True):
        senders[id(model)] = model
    for app_config in apps.get_app_configs():
        senders[id(app_config)] = app_config
    return senders


def _scan_modules() -> tuple[list[Signal], dict[int, object]]:
    """Return the distinct signals in module globals, and every global by id.

    ``type()`` rather than ``isinstance()``: isinstance() reads ``__class__``,
    which evaluates lazy objects such as ``django.conf.settings``.
    """
    signals: dict[int, Signal] = {}
    objects: dict[int, object] = {}
    for _module, _attribute, value in naming.module_globals():
        objects[id(value)] = value
        if issubclass(type(value), Signal):
            signals[id(value)] = value  # type: ignore[assignment]
    return list(signals.values()), objects


# ------------------------------------------------------------------ known names

#: Most names suggested for a name that matches nothing known.
MAX_SUGGESTIONS = 3
#: How close a name must be to be suggested (difflib's ratio, 0 to 1), and how
#: much less close than the closest one it may be.
_CLOSE = 0.6
_MARGIN = 0.05


def signal_names() -> list[str]:
    """The dotted names of the signals in the loaded modules (:func:`find_signals`)."""
    return [naming.signal_name(signal) for signal in find_signals()]


def unknown_signal(wanted: str, seen: Iterable[str] = ()) -> str | None:
    """Say that no signal is named *wanted*, or return None when one is.

    A signal is known when it is bound to a global of a loaded module (see
    :func:`find_signals`) or when its name is among *seen* (the signals of a
    trace, which may have been made in a function); *wanted* names one when it
    matches as :func:`signaltrace.naming.name_matches` says.

    Returns:
        None, or a sentence such as ``no signal named 'order_complete' exists
        in this process; did you mean 'shop.signals.order_completed'?``, with
        the closest names of the known signals (see :data:`MAX_SUGGESTIONS`).
    """
    seen = list(seen)
    if any(naming.name_matches(name, wanted) for name in seen):
        return None
    known = [*seen, *signal_names()]
    if any(naming.name_matches(name, wanted) for name in known):
        return None
    return f"no signal named {wanted!r} exists in this process" + _suggestion(
        wanted, known
    )


def unknown_sender(wanted: str, seen: Iterable[str] = ()) -> str | None:
    """Say that no sender is named *wanted*, or return None when one is.

    The known senders are ``None``; *seen* (the senders of a trace, as
    described); every model (auto-created ones, such as many-to-many
    ``through`` models, included) and every app config; and every class bound
    to a global of a loaded module. *wanted* names one when it matches as
    :func:`signaltrace.naming.sender_name_matches` says. Other objects (an
    instance, a string) are senders only once they have been sent: they are
    known through *seen* alone.

    Returns:
        None, or a sentence such as ``no sender named 'Ordr' is known in this
        process; did you mean 'shop.models.Order'?``. Suggestions come from
        *seen*, the models and the app configs, not from every class.
    """
    likely = ["None", *seen, *_registered_sender_names()]
    if any(naming.sender_name_matches(name, wanted) for name in likely):
        return None
    if any(naming.sender_name_matches(name, wanted) for name in _module_classes()):
        return None
    return f"no sender named {wanted!r} is known in this process" + _suggestion(
        wanted, likely
    )


def _registered_sender_names() -> list[str]:
    """The names of the models and app configs, as a send's sender is described.

    And each model's label (``shop.Order``), which names it too.
    """
    describe = describer(DEFAULTS).sender
    names = []
    for sender in _registered_senders().values():
        names.append(describe(sender))
        meta = sender.__dict__.get("_meta") if issubclass(type(sender), type) else None
        if meta is not None:
            names.append(meta.label)
    return names


def _module_classes() -> Iterator[str]:
    """The dotted paths of the classes bound to the loaded modules' globals.

    The path :func:`signaltrace.naming.class_name` gives, read without adding
    thousands of classes to its cache.
    """
    for _module, _attribute, value in naming.module_globals():
        if issubclass(type(value), type):
            name = naming.class_names.get(id(value))
            if name is None:
                try:  # a metaclass may make these anything, or raise
                    module = getattr(value, "__module__", None)
                    qualname = getattr(value, "__qualname__", None)
                except Exception:
                    continue
                if type(module) is not str or type(qualname) is not str:
                    continue
                name = f"{module}.{qualname}"
            yield name


def _suggestion(wanted: str, names: Iterable[str]) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the names closest to *wanted*, or ``"."``.

    Each name is compared whole and by as many of its last parts as *wanted*
    has (``"order_complete"`` with ``"order_completed"``, the end of
    ``shop.signals.order_completed``), ignoring case, with
    :func:`difflib.get_close_matches`; of those, the ones about as close as
    the closest are suggested, by their whole names.
    """
    parts = wanted.count(".") + 1
    by_text: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        for text in (name, ".".join(name.split(".")[-parts:])):
            found = by_text.setdefault(text.lower(), [])
            if name not in found:
                found.append(name)
    target = wanted.lower()
    close = difflib.get_close_matches(target, by_text, n=10, cutoff=_CLOSE)
    if not close:
        return "."
    best = difflib.SequenceMatcher(None, target, close[0]).ratio()
    suggested = list(
        dict.fromkeys(
            name
            for text in close
            if difflib.SequenceMatcher(None, target, text).ratio() >= best - _MARGIN
            for name in by_text[text]
        )
    )
    quoted = [repr(name) for name in suggested[:MAX_SUGGESTIONS]]
    if len(quoted) == 1:
        return f"; did you mean {quoted[0]}?"
    return f"; did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?"
