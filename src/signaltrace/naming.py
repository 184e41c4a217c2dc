"""Dotted names for signals, receivers and senders: the one place that names things.

Names are what users search for and what tests match on, so they are the
import paths a developer would type: ``django.db.models.signals.post_save``,
``shop.receivers.create_profile``, ``django.contrib.auth.models.User``.
Naming never calls ``__str__`` or ``__repr__`` of user objects and never
evaluates lazy objects.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import re
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from django.dispatch import Signal

if TYPE_CHECKING:
    from signaltrace.trace import SignalEvent

__all__ = [
    "callable_name",
    "module_globals",
    "name_matches",
    "receiver_name",
    "sender_matches",
    "sender_name",
    "signal_matches",
    "signal_name",
    "source_location",
]


class _IdentityCache:
    """A cache keyed by object identity that holds no strong reference to its keys.

    ``WeakKeyDictionary`` needs hashable keys and costs a Python-level call per
    lookup; this costs a dict lookup and a dereference, which matters on the
    path of every receiver call. Entries go away with their objects.
    """

    def __init__(self) -> None:
        self.entries: dict[int, tuple[weakref.ref[Any], str]] = {}

    def get(self, obj: object) -> tuple[weakref.ref[Any], str] | None:
        entry = self.entries.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry
        return None

    def put(self, obj: object, name: str) -> tuple[weakref.ref[Any], str] | None:
        key = id(obj)
        entries = self.entries
        try:
            ref = weakref.ref(obj, lambda _ref: entries.pop(key, None))
        except TypeError:
            return None
        entry = (ref, name)
        entries[key] = entry
        return entry


# --------------------------------------------------------------------- signals

_signal_names = _IdentityCache()
_signal_lock = threading.Lock()
_ASSIGNMENT = r"^\s*{name}\s*(?::[^=]*)?=(?!=)"


def signal_name(signal: Signal) -> str:
    """Return the dotted import path of *signal*, e.g. ``shop.signals.order_paid``.

    The path is found by looking for the signal in the loaded modules. When it
    is bound in several (``from .signals import x`` re-exports it), the module
    whose source assigns it wins. A signal that lives in no module (created in a
    function, for instance) gets a readable fallback naming its class.
    """
    # _IdentityCache.get(), inlined: this runs at every recorded send.
    entry = _signal_names.entries.get(id(signal))
    if entry is not None and entry[0]() is signal:
        return entry[1]
    with _signal_lock:
        name = _find_signal_name(signal)
        _signal_names.put(signal, name)
    return name


def module_globals() -> Iterator[tuple[str, str, object]]:
    """Yield ``(module name, attribute, value)`` for every loaded module's globals.

    Reads the modules' dicts only: no lazy module ``__getattr__`` runs, and
    objects that stand in for modules in ``sys.modules`` are skipped by
    ``type()``, which (unlike ``isinstance()``) does not evaluate lazy objects.
    """
    for module_name, module in list(sys.modules.items()):
        if not issubclass(type(module), types.ModuleType):
            continue
        for attribute, value in list(vars(module).items()):
            yield module_name, attribute, value


def _find_signal_name(signal: Signal) -> str:
    candidates = [
        (module_name, attribute)
        for module_name, attribute, value in module_globals()
        if value is signal
    ]
    if not candidates:
        cls = type(signal)
        return f"<unnamed {cls.__module__}.{cls.__qualname__}>"
    module_name, attribute = min(candidates, key=_candidate_rank)
    return f"{module_name}.{attribute}"


def _candidate_rank(candidate: tuple[str, str]) -> tuple[bool, bool, bool, int, str]:
    """Sort key: the defining module first, then ``*.signals`` modules, then short."""
    module_name, attribute = candidate
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None) or ""
    defines = False
    if filename.endswith(".py"):
        pattern = re.compile(_ASSIGNMENT.format(name=re.escape(attribute)))
        defines = any(pattern.match(line) for line in linecache.getlines(filename))
    private = module_name.startswith("_") or "._" in module_name
    return (
        not defines,
        module_name.rpartition(".")[2] != "signals",
        private,
        len(module_name),
        module_name,
    )


def signal_matches(event: SignalEvent, signal: object) -> bool:
    """Whether *event* was sent by *signal*: a Signal object or a dotted name.

    A name without dots matches the last part of the dotted path, so
    ``"post_save"`` finds ``django.db.models.signals.post_save``.
    """
    if isinstance(signal, str):
        return name_matches(event.name, signal)
    return event.signal is signal


def name_matches(full_name: str, wanted: str) -> bool:
    """Whether the dotted *full_name* is what a user meant by *wanted*.

    A full dotted path matches itself, a dotted tail matches its end
    (``"signals.post_save"``), and a bare name matches the last part.
    """
    if "." in wanted:
        return full_name == wanted or full_name.endswith("." + wanted)
    return full_name.rpartition(".")[2] == wanted


# ------------------------------------------------------------------- receivers

_callable_names = _IdentityCache()


def receiver_entry(receiver: object) -> tuple[weakref.ref[Any], str] | None:
    """Return ``(weak reference, name)`` of a receiver that is not a bound method.

    Cached per receiver; None when it cannot be weakly referenced.
    """
    entry = _callable_names.get(receiver)
    if entry is not None:
        return entry
    return _callable_names.put(receiver, callable_name(receiver))


def receiver_entries() -> dict[int, tuple[weakref.ref[Any], str]]:
    """The cache behind :func:`receiver_entry`, by ``id()``, for inlined lookups.

    An entry is valid only when its weak reference still gives the receiver.
    """
    return _callable_names.entries


def receiver_name(receiver: object) -> str:
    """Return the dotted name of a receiver, cached per receiver.

    See :func:`callable_name` for how each kind of callable is named.
    """
    key = receiver.__func__ if type(receiver) is types.MethodType else receiver
    entry = _callable_names.get(key)
    if entry is not None:
        return entry[1]
    name = callable_name(receiver)
    _callable_names.put(key, name)
    return name


def callable_name(obj: object) -> str:
    """Return a readable dotted name for any callable.

    - functions and async functions: ``module.qualname``;
    - bound methods: ``module.Class.method``;
    - ``functools.partial``: ``functools.partial(module.func)``;
    - ``unittest.mock`` mocks: ``unittest.mock.Mock(name)``;
    - callable instances: ``module.Class.__call__``.
    """
    # type() rather than isinstance(): isinstance() reads __class__, which
    # evaluates lazy objects and is faked by mocks.
    cls = type(obj)
    if issubclass(cls, types.MethodType):
        return callable_name(obj.__func__)  # type: ignore[attr-defined]
    if issubclass(cls, functools.partial):
        return f"functools.partial({callable_name(obj.func)})"  # type: ignore[attr-defined]
    if _is_mock(cls):
        mock_name = obj._extract_mock_name()  # type: ignore[attr-defined]
        return f"{cls.__module__}.{cls.__qualname__}({mock_name})"
    if issubclass(cls, (types.FunctionType, types.BuiltinFunctionType, type)):
        module = getattr(obj, "__module__", None) or "<unknown>"
        qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
        return f"{module}.{qualname}"
    return f"{cls.__module__}.{cls.__qualname__}.__call__"


def _is_mock(cls: type) -> bool:
    mock_module = sys.modules.get("unittest.mock")
    return mock_module is not None and issubclass(cls, mock_module.NonCallableMock)


def source_location(obj: object) -> tuple[str, int, str] | None:
    """Return ``(file, line, qualname)`` of the code behind a callable, or None."""
    target: Any = obj
    for _ in range(10):
        if issubclass(type(target), types.MethodType):
            target = target.__func__
        elif issubclass(type(target), functools.partial):
            target = target.func
        else:
            break
    cls = type(target)
    if _is_mock(cls):
        return None
    if not issubclass(cls, (types.FunctionType, type)):
        target = getattr(cls, "__call__", None)  # noqa: B004
        if not isinstance(target, types.FunctionType):
            return None
    try:
        target = inspect.unwrap(target)
        code = target.__code__
    except (AttributeError, ValueError):
        return None
    return code.co_filename, code.co_firstlineno, target.__qualname__


# --------------------------------------------------------------------- senders

_sender_names = _IdentityCache()


def sender_name(sender: object) -> str:
    """Return a readable name for a sender without running any of its code.

    Classes (model classes above all) get their dotted path; None is ``"None"``;
    other objects get the safe representation used everywhere else.
    """
    if sender is None:
        return "None"
    if issubclass(type(sender), type):
        cls = cast(type, sender)
        entry = class_sender_entry(cls)
        if entry is not None:
            return entry[1]
        return f"{cls.__module__}.{cls.__qualname__}"
    from signaltrace.values import safe_repr

    return safe_repr(sender)


def class_sender_entry(sender: type) -> tuple[weakref.ref[Any], str] | None:
    """Return ``(weak reference, dotted path)`` of a class sender, cached per class.

    None for a class that cannot be weakly referenced.
    """
    entry = _sender_names.get(sender)
    if entry is not None:
        return entry
    return _sender_names.put(sender, f"{sender.__module__}.{sender.__qualname__}")


def sender_entries() -> dict[int, tuple[weakref.ref[Any], str]]:
    """The cache behind :func:`class_sender_entry`, by ``id()``, for inlined lookups.

    An entry is valid only when its weak reference still gives the sender.
    """
    return _sender_names.entries


def sender_matches(event: SignalEvent, sender: object) -> bool:
    """Whether *event* came from *sender*: an object, or a (dotted) name."""
    if isinstance(sender, str):
        actual = event.sender
        if type(actual) is str:  # a string sender is matched as itself
            return actual == sender
        return name_matches(event.sender_name, sender) or event.sender_name == sender
    return event.sender is sender
