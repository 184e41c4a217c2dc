"""Installing the wrappers on ``Signal``, and knowing which Django they fit.

The wrappers of :mod:`signaltrace.dispatch` are put on ``Signal`` when the
first user needs them (a capture starting, a request beginning) and Django's
own functions are put back when the last one is done, so with nothing
recording, ``Signal.send`` is Django's function and costs what it costs.

The fast path, the ``send()``/``send_robust()`` loop the wrapper runs itself,
copies what Django's method does. It runs only on a Django whose methods it
was verified against: :data:`VERIFIED` holds a fingerprint of the source of
each method on every Django line the conformance suite and Django's own
signal tests ran on (``make matrix``, ``make django-suite``). On any other
Django every send goes through Django's own method, its receivers called
through proxies: correct, slower, and ``manage.py check`` says so once
(``signaltrace.I001``). To add a Django release, run both on it, then add
what :func:`fingerprints` prints there.

Each time the wrappers go on or come off, ``Signal`` and its subclasses are
modified. From Python 3.13, CPython stops caching the attribute lookups of a
class modified about a thousand times, for the rest of the process: every
send, ``connect()`` and attribute read of every signal would then be slower,
traced or not (~0.4 µs per send). A capture per test or a traced request
each is a modification or two, so on such a Python the wrappers come off
:data:`REMOVALS` times at most; after that they stay on, and a send with
nothing recording passes through them (the ``signaltrace`` logger says so
once).

A *scope* (:func:`set_scope`) may wrap each send wrapper once more: the
OpenTelemetry export (:mod:`signaltrace.opentelemetry`) opens a trace of its
own around a send that way, without this module or the recorder knowing it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

from signaltrace import dispatch, queries
from signaltrace.context import current_call

__all__ = [
    "REMOVALS",
    "VERIFIED",
    "acquire",
    "fast_path",
    "fingerprints",
    "is_installed",
    "release",
    "set_scope",
]

#: Fingerprints of Django's methods that the fast path was verified against:
#: for ``send``, the method's; for ``send_robust``, the method's and that of
#: ``_log_robust_failure``, which it logs through (Django 4.2 logs from
#: ``send_robust`` itself, so its ``send_robust`` has no fast path).
VERIFIED: dict[str, frozenset[tuple[str, ...]]] = {
    "send": frozenset(
        {
            ("92d8d95e3b806d5a",),  # 4.2
            ("7af132e2a726d70d",),  # 5.0, 5.1, 5.2
            ("18b2993761934d94",),  # 6.0
            ("cb8e382e5be6568f",),  # 6.1
        }
    ),
    "send_robust": frozenset(
        {
            ("6bc17cbef42c8a96", "46c7790793bdda2d"),  # 5.0, 5.1, 5.2
            ("ca1c198d3fc88c05", "46c7790793bdda2d"),  # 6.0
            ("c4e4968bcea44767", "46c7790793bdda2d"),  # 6.1
        }
    ),
}
#: What each fast path's fingerprint is made of.
_FINGERPRINTED = {
    "send": ("send",),
    "send_robust": ("send_robust", "_log_robust_failure"),
}

#: How many times the wrappers may come off ``Signal`` in this process (see
#: the module's documentation); None: as often as their last user is done.
#: 100 removals are ~200 modifications of ``Signal``, a fifth of what Python
#: 3.13 allows a class.
REMOVALS: int | None = 100 if sys.version_info >= (3, 13) else None

#: Takes a send wrapper, returns the method to put on ``Signal`` in its place.
Scope = Callable[[Callable[..., Any]], Callable[..., Any]]

_lock = threading.Lock()
_users = 0
_originals: dict[str, Any] = {}
_wrappers: dict[str, Any] = {}
#: What wraps each send wrapper (see set_scope()); None: the wrappers go on as
#: they are.
_scope: Scope | None = None
#: How many times the wrappers came off (counted while REMOVALS is not None).
_removed = 0
logger = logging.getLogger("signaltrace")


def acquire() -> None:
    """Install the wrappers on ``Signal`` if this is the first user."""
    global _users
    with _lock:
        _users += 1
        if _users == 1:
            if not _originals:  # else they stayed on (see REMOVALS)
                _install()
            queries.start(current_call)


def release() -> None:
    """Remove the wrappers if this was the last user (see :data:`REMOVALS`)."""
    global _users
    with _lock:
        if _users <= 0:
            raise RuntimeError("signaltrace.install.release() without acquire()")
        _users -= 1
        if _users == 0:
            queries.stop()
            if _may_remove():
                _uninstall()


def set_scope(scope: Scope | None) -> None:
    """Put ``scope(wrapper)`` on ``Signal`` for each send method from now on.

    *scope* gets the recorder's wrapper of ``send``, ``send_robust``,
    ``asend`` or ``asend_robust`` (``functools.wraps`` of Django's method, so
    ``__wrapped__`` is that method) and returns the function to install in its
    place; None installs the wrappers alone again. Takes effect at once when
    the wrappers are on.
    """
    global _scope
    with _lock:
        _scope = scope
        if _originals:
            _put_on(_wrappers_of(tuple(_originals.items()), fast_path(), scope))


def is_installed() -> bool:
    """Whether ``Signal``'s methods are currently the wrappers."""
    return bool(_originals)


def fingerprint(function: Callable[..., Any] | None) -> str | None:
    """A short hash of a function's own source, or None when it has none.

    Read from the function's code: ``inspect.getsource(function)`` would
    follow ``__wrapped__``, and give another tool's ``functools.wraps``
    wrapper of ``Signal.send`` the fingerprint of Django's method.
    """
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    try:
        source = inspect.getsource(code)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(textwrap.dedent(source).encode()).hexdigest()[:16]


def fingerprints() -> dict[str, tuple[str | None, ...]]:
    """The fingerprints of this Django's methods, as :data:`VERIFIED` holds them.

    Of the methods found on ``Signal`` before the wrappers went on, while
    they are on.
    """
    return _fingerprints(
        *(_originals.get(name) or Signal.__dict__.get(name) for name in _METHODS)
    )


def fast_path() -> frozenset[str]:
    """The send methods whose loop the wrappers run themselves on this Django."""
    return frozenset(
        path for path, found in fingerprints().items() if found in VERIFIED[path]
    )


_METHODS = ("send", "send_robust", "_log_robust_failure")


@functools.lru_cache(maxsize=8)
def _fingerprints(*methods: Any) -> dict[str, tuple[str | None, ...]]:
    """Fingerprints per fast path, worked out once per set of methods.

    Reading the source takes far longer than a request: it is done again only
    when a method changed (another tool wrapped it, or removed its wrapper).
    """
    by_name = dict(zip(_METHODS, map(fingerprint, methods), strict=True))
    return {
        path: tuple(by_name[name] for name in names)
        for path, names in _FINGERPRINTED.items()
    }


def _install() -> None:
    # The lookup is read, for the wrappers to call, and never replaced.
    for name in ("_live_receivers", *dispatch.SEND_METHODS):
        original = Signal.__dict__.get(name)
        if original is not None:  # Django 4.2 has no asend/asend_robust.
            _originals[name] = original
    _put_on(_wrappers_of(tuple(_originals.items()), fast_path(), _scope))


def _may_remove() -> bool:
    """Whether the wrappers may come off once more (see :data:`REMOVALS`)."""
    global _removed
    if REMOVALS is None:
        return True
    if _removed < REMOVALS:
        _removed += 1
        return True
    if _removed == REMOVALS:
        _removed += 1
        logger.info(
            "signaltrace's wrappers stay on Signal's methods from now on: "
            "taken off %d times already, Signal would soon be modified too "
            "often for Python %d.%d to keep caching its attribute lookups",
            REMOVALS,
            *sys.version_info[:2],
        )
    return False


def _put_on(wrappers: dict[str, Any]) -> None:
    """Make *wrappers* ``Signal``'s methods, in place of Django's or ours."""
    for name, wrapper in wrappers.items():
        # As in _uninstall(): a method another tool wrapped after us is left.
        if name not in _wrappers or Signal.__dict__.get(name) is _wrappers[name]:
            setattr(Signal, name, wrapper)
    _wrappers.clear()
    _wrappers.update(wrappers)


@functools.lru_cache(maxsize=4)
def _wrappers_of(
    originals: tuple[tuple[str, Any], ...],
    direct: frozenset[str],
    scope: Scope | None,
) -> dict[str, Any]:
    """The wrappers of these methods, made once: a request installs them anew."""
    wrappers = dispatch.make_wrappers(dict(originals), direct)
    if scope is not None:
        for name in dispatch.SEND_METHODS:
            if name in wrappers:
                wrappers[name] = scope(wrappers[name])
    return wrappers


def _uninstall() -> None:
    for name, wrapper in _wrappers.items():
        # Leave a method alone if another tool wrapped it after us: removing
        # ours would remove theirs. Our wrapper passes straight through then.
        if Signal.__dict__.get(name) is wrapper:
            setattr(Signal, name, _originals[name])
    _originals.clear()
    _wrappers.clear()
