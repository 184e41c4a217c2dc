"""What is connected: every live receiver of every signal in the loaded modules.

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
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
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
    *, signals: Sequence[str] = (), exclude_signals: Sequence[str] = ()
) -> list[ConnectedReceiver]:
    """Return the live receivers of every signal found in the loaded modules.

    Signals come in name order, receivers in the order Django calls them.
    Entries whose receiver or sender was garbage collected are skipped, as
    Django skips them when sending.

    Arguments:
        signals: only list these signals (dotted paths or their last part).
        exclude_signals: leave these signals out (same matching).
    """
    found, objects = _scan_modules()
    senders = _SenderNames(objects)
    listed: list[ConnectedReceiver] = []
    for name, signal in sorted(
        ((naming.signal_name(signal), signal) for signal in found),
        key=lambda pair: pair[0],
    ):
        if signals and not any(naming.name_matches(name, s) for s in signals):
            continue
        if any(naming.name_matches(name, s) for s in exclude_signals):
            continue
        listed.extend(_describe(name, entry, senders) for entry in live_entries(signal))
    return listed


def _describe(
    signal_name: str, entry: LiveEntry, senders: _SenderNames
) -> ConnectedReceiver:
    """Describe one live entry of a signal named *signal_name*."""
    receiver = entry.receiver
    uid_or_id, sender_id = entry.lookup_key
    if entry.sender is not None:
        sender_label: str | None = describer(DEFAULTS).sender(entry.sender)
    else:
        sender_label = senders.name(sender_id)
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
