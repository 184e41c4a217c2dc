"""System checks for the signal mistakes that fail without a word.

Registered by :class:`signaltrace.apps.SignalTraceConfig` under the tag
``signals`` (``manage.py check --tag signals``):

- ``signaltrace.W001``: an app's ``signals.py``, ``receivers.py``,
  ``handlers.py``, ``signal_handlers.py`` or ``listeners.py`` (and the modules
  named in the ``EXTRA_RECEIVER_MODULES`` setting) defines receivers but was
  never imported, so none of them is connected. The most common signals bug:
  the import belongs in the app config's ``ready()``.
- ``signaltrace.W002``: one receiver function connected twice to one signal
  for the same senders, so it runs twice per send; typically its module was
  imported under two names.
- ``signaltrace.W003``: a weakly connected receiver that Python will collect
  (a lambda, a local function, or a bound method of an object nothing else
  refers to), after which Django drops it silently.
- ``signaltrace.I001``: this Django's ``Signal.send`` (or ``send_robust``) is
  not one signaltrace's fast path was verified against: traced sends go
  through Django's own method instead (the same behaviour, slower). See
  :mod:`signaltrace.install`.

Each warning's hint says how to fix it, and how to silence it with
``SILENCED_SYSTEM_CHECKS`` when it is intended. The checks read what is
loaded and connected; they import no module and call no receiver.
"""

from __future__ import annotations

import ast
import gc
import importlib.util
import sys
import types
from collections.abc import Iterable, Sequence
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from typing import Any

from django.apps import AppConfig, apps
from django.core.checks import CheckMessage, Info, Warning
from django.dispatch import Signal

from signaltrace import install, naming
from signaltrace.conf import get_config
from signaltrace.receivers import find_signals, live_entries

__all__ = [
    "RECEIVER_MODULES",
    "check_collectable_receivers",
    "check_dispatcher_verified",
    "check_duplicate_receivers",
    "check_unimported_receiver_modules",
]

#: The module names, inside an app, that conventionally hold receivers
#: (``signal_handlers`` is Wagtail's). The ``EXTRA_RECEIVER_MODULES`` setting
#: adds more.
RECEIVER_MODULES = ("signals", "receivers", "handlers", "signal_handlers", "listeners")

#: Objects explored around an object to tell whether only its own reference
#: cycles keep it alive; beyond this it is assumed to be kept (no warning).
_MAX_EXPLORED = 2_000


def _silence(check_id: str) -> str:
    return (
        f"If this is intended, add {check_id!r} to the SILENCED_SYSTEM_CHECKS setting."
    )


# ------------------------------------------------------------------ I001


def check_dispatcher_verified(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """I001: Django's send methods are not those the fast path was verified against."""
    missing = sorted({"send", "send_robust"} - install.fast_path())
    if not missing or (
        missing == ["send_robust"] and not hasattr(Signal, "_log_robust_failure")
    ):
        # Django 4.2 logs send_robust's failures inline: never a fast path.
        return []
    import django

    return [
        Info(
            f"signaltrace has not been verified against Signal."
            f"{'() and Signal.'.join(missing)}() of Django {django.get_version()}: "
            "traced sends go through Django's own method, which is slower.",
            hint="Nothing changes for your program. Upgrading signaltrace may "
            "bring the faster path; the fingerprints it was verified against "
            "are in signaltrace.install.VERIFIED.",
            id="signaltrace.I001",
        )
    ]


# ------------------------------------------------------------------ W001


def check_unimported_receiver_modules(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W001: receiver modules of installed apps that were never imported.

    A module named in :data:`RECEIVER_MODULES` or in the
    ``EXTRA_RECEIVER_MODULES`` setting is looked for without being imported
    (see :func:`_find_source`) and read with :mod:`ast`: it counts when it
    decorates a function with ``@receiver(...)`` or calls ``.connect()`` on
    something with a receiver. If it is not in ``sys.modules`` once the apps
    are ready, nothing it connects was ever connected.
    """
    # A lone string, as a setting may well hold, is one name, not letters.
    extra: Sequence[str] | str = get_config().EXTRA_RECEIVER_MODULES
    names = dict.fromkeys(
        (*RECEIVER_MODULES, *((extra,) if isinstance(extra, str) else extra))
    )
    messages: list[CheckMessage] = []
    for app_config in app_configs or apps.get_app_configs():
        for name in names:
            module_name = f"{app_config.name}.{name}"
            if module_name in sys.modules:
                continue
            origin = _find_source(module_name)
            if origin is None or not _defines_receivers(Path(origin)):
                continue
            package, _, module = f".{name}".rpartition(".")
            config_class = type(app_config)
            messages.append(
                Warning(
                    f"{module_name} defines signal receivers, but it is never "
                    "imported: none of them is connected, and they never run.",
                    hint=(
                        f"Import it in the ready() method of "
                        f"{config_class.__module__}.{config_class.__qualname__}"
                        f" (`from {package or '.'} import {module}  # noqa: F401`). "
                        + _silence("signaltrace.W001")
                    ),
                    obj=module_name,
                    id="signaltrace.W001",
                )
            )
    return messages


def _find_source(module_name: str) -> str | None:
    """The ``.py`` file of *module_name*, found without importing it.

    :func:`importlib.util.find_spec` imports the parent package: for a module
    right inside an app, the app's own, already loaded. A parent not loaded
    yet (``signals`` of ``signals.handlers``) is found on its package's path
    instead, so that checking never runs a module.
    """
    parent = module_name.rpartition(".")[0]
    try:
        if parent in sys.modules:
            spec = importlib.util.find_spec(module_name)
        else:
            spec = _find_spec_on_path(module_name)
    except (ImportError, ValueError):  # the app is a module, not a package
        return None
    if spec is None or not (spec.origin or "").endswith(".py"):
        return None
    return spec.origin


def _find_spec_on_path(module_name: str) -> ModuleSpec | None:
    """The spec of *module_name*, from its nearest loaded package downwards."""
    package = module_name
    while package and package not in sys.modules:
        package = package.rpartition(".")[0]
    path = getattr(sys.modules.get(package), "__path__", None)
    spec = None
    for part in module_name[len(package) + 1 :].split("."):
        if not package or path is None:
            return None
        package = f"{package}.{part}"
        spec = PathFinder.find_spec(package, path)
        path = spec.submodule_search_locations if spec is not None else None
    return spec


def _defines_receivers(path: Path) -> bool:
    """Whether the source at *path* decorates with ``receiver`` or connects one."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False
    functions: set[str] = set()
    signal_names: set[str] = set()  # bound by imports from a signals module
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.add(node.name)
            for decorator in node.decorator_list:
                target = (
                    decorator.func if isinstance(decorator, ast.Call) else decorator
                )
                if _last_name(target) == "receiver":
                    return True
        elif isinstance(node, ast.ImportFrom):
            from_signals = "signal" in (node.module or "")
            signal_names.update(
                alias.asname or alias.name
                for alias in node.names
                if from_signals or "signal" in alias.name
            )
        elif isinstance(node, ast.Import):
            signal_names.update(
                alias.asname or alias.name.partition(".")[0]
                for alias in node.names
                if "signal" in alias.name
            )
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "connect"
        and _connects_a_receiver(node, functions, signal_names)
        for node in ast.walk(tree)
    )


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _connects_a_receiver(
    call: ast.Call, functions: set[str], signal_names: set[str]
) -> bool:
    """Whether ``x.connect(...)`` looks like ``Signal.connect``, not a socket's.

    It does when ``x`` comes from a signals module (``post_save.connect``,
    ``signals.order_paid.connect``), when it passes one of Signal.connect's
    own keywords, or a lambda or a function of the module as the receiver.
    """
    assert isinstance(call.func, ast.Attribute)
    if _root_name(call.func.value) in signal_names:
        return True
    if any(
        k.arg in {"receiver", "sender", "weak", "dispatch_uid"} for k in call.keywords
    ):
        return True
    if not call.args:
        return False
    first = call.args[0]
    return isinstance(first, ast.Lambda) or (
        isinstance(first, ast.Name) and first.id in functions
    )


# ------------------------------------------------------------------ W002


def check_duplicate_receivers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W002: one receiver function connected more than once to one signal.

    Django removes duplicates by identity (or ``dispatch_uid``). The same
    function loaded twice, from a module imported under two names, is two
    objects to it, and runs twice per send. Functions count as the same when
    their code is: same file, line and qualified name. Bound methods are left
    out, since two instances of a class may well both listen.
    """
    messages: list[CheckMessage] = []
    for signal in find_signals():
        groups: dict[tuple[Any, ...], list[types.FunctionType]] = {}
        for entry in live_entries(signal):
            receiver, sender_key = entry.receiver, entry.lookup_key[1]
            if type(receiver) is not types.FunctionType:
                continue
            source = naming.source_location(receiver)
            if source is None:
                continue
            groups.setdefault((*source, sender_key), []).append(receiver)
        for (_file, _line, _qualname, _sender), copies in groups.items():
            if len(copies) < 2 or not _concerns(copies, app_configs):
                continue
            modules = sorted({copy.__module__ for copy in copies})
            if len(modules) > 1:
                cause = (
                    f"Its module was imported under {len(modules)} names "
                    f"({', '.join(modules)}): import it by one name only, "
                    "as the app's package sees it."
                )
            else:
                cause = (
                    "It was connected again with another dispatch_uid, or "
                    "through copies of the function: connect it once."
                )
            messages.append(
                Warning(
                    f"{naming.callable_name(copies[0])} is connected "
                    f"{len(copies)} times to {naming.signal_name(signal)}, so "
                    f"it runs {len(copies)} times per send.",
                    hint=f"{cause} {_silence('signaltrace.W002')}",
                    obj=naming.callable_name(copies[0]),
                    id="signaltrace.W002",
                )
            )
    return messages


# ------------------------------------------------------------------ W003


def check_collectable_receivers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W003: weakly connected receivers that Python is bound to collect.

    Django holds receivers through weak references unless connected with
    ``weak=False``; once nothing else refers to one, it is gone, and sends
    skip it without a word. Among the receivers still connected:

    - a lambda or a local function (``<locals>`` in its qualified name) is
      flagged: whatever keeps it alive now is not its definition;
    - a bound method is flagged when its object is held by nothing but its
      own reference cycles (``signal.connect(Handler().method)``), which the
      garbage collector will break.

    Receivers already collected are gone from the list and cannot be named.
    """
    messages: list[CheckMessage] = []
    # Bound methods are taken apart: a bound method refers to its object,
    # and would count as something holding it.
    objects: list[object] = []
    methods: list[tuple[Signal, str, object]] = []
    for signal in find_signals():
        # Unpacked by a generator, which lets go of each entry: only
        # ``receiver`` outlives the loop, and it is cleared below.
        for weak, receiver in ((e.weak, e.receiver) for e in live_entries(signal)):
            if not weak:
                continue
            if type(receiver) is types.MethodType:
                if not issubclass(type(receiver.__self__), type):
                    cls = type(receiver.__self__)
                    objects.append(receiver.__self__)
                    methods.append(
                        (
                            signal,
                            f"{cls.__module__}.{cls.__qualname__}",
                            receiver.__func__,
                        )
                    )
                continue
            if type(receiver) is not types.FunctionType:
                continue
            if receiver.__name__ == "<lambda>":
                kind = "a lambda"
            elif "<locals>" in receiver.__qualname__:
                kind = "a local function"
            else:
                continue
            if _concerns([receiver], app_configs):
                messages.append(
                    _collectable(signal, naming.callable_name(receiver), kind)
                )
        receiver = None  # the last bound method would hold its object
    temporary = _only_self_held(objects)
    objects.clear()
    for (signal, class_name, function), collectable in zip(
        methods, temporary, strict=True
    ):
        if collectable and _concerns([function], app_configs):
            messages.append(
                _collectable(
                    signal,
                    naming.callable_name(function),
                    f"a method of a {class_name} object that nothing else refers to",
                )
            )
    return messages


def _collectable(signal: Signal, name: str, kind: str) -> Warning:
    return Warning(
        f"{name} is connected to {naming.signal_name(signal)} by a weak "
        f"reference, and it is {kind}: Python will collect it, and Django "
        "will then stop calling it without a word.",
        hint=(
            "Connect a module-level function, keep a reference to the receiver "
            "for as long as it must run, or connect it with weak=False. "
            + _silence("signaltrace.W003")
        ),
        obj=name,
        id="signaltrace.W003",
    )


def _only_self_held(objects: list[object]) -> list[bool]:
    """For each object, whether nothing but its own reference cycles holds it.

    Such an object is garbage the collector has not reached yet. Its cycles
    are the objects it refers to (classes, modules and module globals left
    out) that refer back to it; when anything else refers to one of them,
    the object is alive. One scan of the heap serves all the objects.
    """
    cycles = [_cycles_through(obj) for obj in objects]
    # id of a cycle member -> the positions of the objects whose cycle it is in
    members: dict[int, list[int]] = {}
    for position, cycle in enumerate(cycles):
        for member in cycle or ():
            members.setdefault(member, []).append(position)
    held = [cycle is None for cycle in cycles]
    targets = [member for cycle in cycles for member in (cycle or {}).values()]
    ours = {id(objects), id(targets), *(id(cycle) for cycle in cycles)}
    for referrer in gc.get_referrers(*targets) if targets else ():
        if id(referrer) in ours or type(referrer) is types.FrameType:
            continue
        for referent in gc.get_referents(referrer):
            for position in members.get(id(referent), ()):
                if id(referrer) not in (cycles[position] or {}):
                    held[position] = True
    targets.clear()
    return [not kept for kept in held]


def _cycles_through(obj: object) -> dict[int, object] | None:
    """The objects *obj* reaches and that reach it back, itself included, by id.

    None when exploring what it reaches takes more than ``_MAX_EXPLORED``
    objects: it is then assumed to be held.
    """
    shared = {id(vars(module)) for module in list(sys.modules.values())}
    seen: dict[int, object] = {id(obj): obj}
    edges: dict[int, list[int]] = {}
    queue = [obj]
    while queue:
        current = queue.pop()
        targets: list[int] = []
        edges[id(current)] = targets
        for referent in gc.get_referents(current):
            # type(), not isinstance(): isinstance() evaluates lazy objects.
            if (
                not gc.is_tracked(referent)
                or issubclass(type(referent), type | types.ModuleType)
                or id(referent) in shared
            ):
                continue
            targets.append(id(referent))
            if id(referent) not in seen:
                if len(seen) >= _MAX_EXPLORED:
                    return None
                seen[id(referent)] = referent
                queue.append(referent)
    back: dict[int, list[int]] = {}
    for source, reached in edges.items():
        for target in reached:
            back.setdefault(target, []).append(source)
    cycle = {id(obj): obj}
    stack = [id(obj)]
    while stack:
        for source in back.get(stack.pop(), ()):
            if source not in cycle:
                cycle[source] = seen[source]
                stack.append(source)
    return cycle


# ------------------------------------------------------------------ shared


def _concerns(
    receivers: Iterable[Any], app_configs: Sequence[AppConfig] | None
) -> bool:
    """Whether one of *receivers* belongs to one of *app_configs* (all: None)."""
    if app_configs is None:
        return True
    packages = [app_config.name for app_config in app_configs]
    return any(
        module == package or module.startswith(package + ".")
        for receiver in receivers
        for module in [getattr(receiver, "__module__", None) or ""]
        for package in packages
    )
