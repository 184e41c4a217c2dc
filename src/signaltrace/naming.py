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
from typing import Any, NamedTuple, TypeVar, cast

from django.core.exceptions import AppRegistryNotReady
from django.dispatch import Signal

__all__ = [
    "ReceiverInfo",
    "callable_name",
    "class_name",
    "class_names",
    "module_globals",
    "name_matches",
    "receiver_info",
    "receiver_infos",
    "receiver_name",
    "sender_name_matches",
    "signal_name",
    "source_location",
]


_T = TypeVar("_T")


#: Identity caches: plain dicts of values by ``id()`` of an object, read as
#: ``cache.get(id(obj))``. They hold no strong reference to the objects: a
#: ``WeakKeyDictionary`` needs hashable keys and costs a Python-level call
#: per lookup, and a ``dict`` subclass is slower to read than a dict (by
#: ~0.1 µs per receiver call in the send loop, measured). An entry is
#: removed by its weak reference's callback (see :func:`_remember`), which
#: CPython runs while the object is being freed, before its id can be given
#: to another object: an entry found is always the object's.
_IdentityCache = dict[int, _T]

#: The weak references that keep the identity caches honest, by the id of
#: the cache and the id of the object.
_references: dict[tuple[int, int], weakref.ref[Any]] = {}


def _remember(cache: _IdentityCache[_T], obj: object, value: _T) -> None:
    """Keep *value* in *cache* for *obj*, for as long as *obj* lives.

    Objects that cannot be weakly referenced are not cached.
    """
    key = id(obj)
    reference_key = (id(cache), key)

    def forget(_ref: weakref.ref[Any]) -> None:
        _references.pop(reference_key, None)
        cache.pop(key, None)

    try:
        reference = weakref.ref(obj, forget)
    except TypeError:
        return
    _references[reference_key] = reference
    cache[key] = value


# --------------------------------------------------------------------- signals

_signal_names: _IdentityCache[str] = {}
_signal_lock = threading.Lock()
_ASSIGNMENT = r"^\s*{name}\s*(?::[^=]*)?=(?!=)"


def signal_name(signal: Signal) -> str:
    """Return the dotted import path of *signal*, e.g. ``shop.signals.order_paid``.

    The path is found by looking for the signal in the loaded modules. When it
    is bound in several (``from .signals import x`` re-exports it), the module
    whose source assigns it wins. A signal that lives in no module (created in a
    function, for instance) gets a readable fallback naming its class.
    """
    name = _signal_names.get(id(signal))
    if name is not None:
        return name
    with _signal_lock:
        name = _find_signal_name(signal)
        _remember(_signal_names, signal, name)
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
    if candidates:
        module_name, attribute = min(candidates, key=_candidate_rank)
        return f"{module_name}.{attribute}"
    # A signal kept as a class attribute (``DebugToolbar._created``): looked
    # for only now, in the classes that modules define, as it costs more.
    for module_name, _, value in module_globals():
        if not issubclass(type(value), type):
            continue
        cls = cast("type", value)
        if getattr(cls, "__module__", None) != module_name:
            continue
        for attribute, held in list(vars(cls).items()):
            if held is signal:
                return f"{module_name}.{cls.__qualname__}.{attribute}"
    cls = type(signal)
    return f"<unnamed {cls.__module__}.{cls.__qualname__}>"


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


def name_matches(full_name: str, wanted: str) -> bool:
    """Whether the dotted *full_name* is what a user meant by *wanted*.

    A full dotted path matches itself, a dotted tail matches its end
    (``"signals.post_save"``), and a bare name matches the last part.
    """
    if "." in wanted:
        return full_name == wanted or full_name.endswith("." + wanted)
    return full_name.rpartition(".")[2] == wanted


def sender_name_matches(sender_name: str, wanted: str) -> bool:
    """Whether a described sender is what a user meant by the name *wanted*.

    As :func:`name_matches` for a class's dotted path (``"Order"`` finds
    ``shop.models.Order``); a model also by its label (``"shop.Order"``,
    which finds its historical versions in migrations too); any other
    description must be given whole (``"<CoreConfig: core>"``), and a string
    sender by its value (``"shop"`` finds the sender ``'shop'``).
    """
    return (
        sender_name == wanted
        or name_matches(sender_name, wanted)
        or sender_name == repr(wanted)
        or sender_name == f"historical {wanted}"
        or sender_name == _model_path(wanted)
    )


def _model_path(label: str) -> str | None:
    """The dotted path of the model labelled *label* (``"shop.Order"``), if any."""
    if label.count(".") != 1:
        return None
    from django.apps import apps  # the registry is filled by django.setup()

    try:
        model = apps.get_model(label)
    except (LookupError, ValueError, AppRegistryNotReady):
        return None
    return class_name(model)


# ------------------------------------------------------------------- receivers

#: The :class:`ReceiverInfo` of receivers, by ``id()`` (an identity cache),
#: filled by :func:`receiver_info`. A function's is found here at once; a
#: bound method's under its function (``receiver_info()`` looks there).
receiver_infos: _IdentityCache[ReceiverInfo] = {}


class ReceiverInfo(NamedTuple):
    """What a trace shows of a receiver, shared by all its calls."""

    #: Its dotted name (see :func:`callable_name`).
    name: str
    #: ``(file, line, qualname)`` where its code is defined, when known.
    source: tuple[str, int, str] | None


def receiver_info(receiver: object) -> ReceiverInfo:
    """The :class:`ReceiverInfo` of a receiver, worked out once per receiver.

    A bound method's is its function's: a method bound anew at every send
    costs one lookup.
    """
    key = receiver.__func__ if type(receiver) is types.MethodType else receiver
    info = receiver_infos.get(id(key))
    if info is not None:
        return info
    info = ReceiverInfo(callable_name(receiver), source_location(receiver))
    _remember(receiver_infos, key, info)
    return info


def receiver_name(receiver: object) -> str:
    """The dotted name of a receiver (see :func:`receiver_info`)."""
    return receiver_info(receiver).name


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


# --------------------------------------------------------------------- classes

#: The dotted paths of classes, by ``id()`` (an identity cache): model
#: classes name most sends, and describing a send looks them up here.
class_names: _IdentityCache[str] = {}


def class_name(cls: type) -> str:
    """The dotted path of a class (a model class sending ``post_save``, say).

    A historical model, which a migration works with in place of the real
    one, is named by its label (``historical blog.Post``): its module is
    ``__fake__``. A model class made inside a function (Django's
    ``MigrationRecorder.Migration``) is named by its module and model name,
    without the ``<locals>`` of its qualified name. Cached per class: class
    senders name most sends.
    """
    name = class_names.get(id(cls))
    if name is not None:
        return name
    module, qualname = cls.__module__, cls.__qualname__
    meta = cls.__dict__.get("_meta")
    if module == "__fake__" and meta is not None:
        name = f"historical {meta.label}"
    elif "<locals>" in qualname and meta is not None:
        name = f"{module}.{meta.object_name}"
    else:
        name = f"{module}.{qualname}"
    _remember(class_names, cls, name)
    return name
