"""The ``SIGNALTRACE`` setting: one dict, every key optional, defaults that work.

Settings are read when a capture starts (not cached at import), so
``override_settings`` in tests takes effect without any receiver of ours
listening to ``setting_changed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["DEFAULTS", "Config", "get_config"]

#: Names whose values are masked, matched like Django's SafeExceptionReporterFilter
#: (case-insensitive search anywhere in the name). The short words at the end
#: are matched only where no letter touches them, so that ``user_pin``,
#: ``card_number`` and ``auth`` are masked but ``shipping``, ``discard`` and
#: ``author`` are not.
DEFAULT_HIDDEN_NAMES = (
    "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|CREDENTIAL|COOKIE|SESSION|CSRF"
    "|AUTHORI[SZ]ATION|AUTHENTICATION|BEARER|PRIVATE|CREDIT"
    "|CARD_?NUM|CC_?NUM|ACCOUNT_?NUM|SECURITY_?CODE|SOCIAL_?SECURITY"
    "|(?<![A-Z])(?:AUTH|CARD|CVV|CVC|PIN|PINCODE|IBAN|[HT]?OTP|SSN)(?![A-Z])"
)


@dataclass(frozen=True)
class Config:
    """The settings a capture runs with. See the settings reference in docs/."""

    #: Turn request tracing on outside DEBUG (True) or off inside it (False).
    #: None follows DEBUG.
    ENABLED: bool | None = None
    #: Most events stored per trace; later sends are only counted in ``dropped``.
    MAX_EVENTS: int = 10_000
    #: Record sends that reached no receiver as full events instead of counting them.
    RECORD_UNRECEIVED: bool = False
    #: Longest representation of one value, in characters, before truncation.
    MAX_VALUE_LENGTH: int = 300
    #: Most items shown of a list, dict or set.
    MAX_ITEMS: int = 20
    #: How deep nested containers are shown.
    MAX_DEPTH: int = 4
    #: Regular expression (case-insensitive) of names whose values are masked.
    HIDDEN_NAMES: str = DEFAULT_HIDDEN_NAMES
    #: What a masked value is shown as.
    MASK: str = "********************"
    #: How many finished request traces the history keeps.
    HISTORY_SIZE: int = 50
    #: About how much memory, in bytes, the history's traces may take in all;
    #: the oldest are dropped beyond it (see ``history.estimate_size``).
    HISTORY_MAX_BYTES: int = 32 * 1024 * 1024
    #: Who may open the viewer (``signaltrace.urls``, DEBUG only): a callable
    #: ``(request) -> bool`` or its dotted path. None: staff users and
    #: requests from ``INTERNAL_IPS``.
    SHOW_VIEWER: str | Callable[[Any], bool] | None = None
    #: Receivers taking at least this many milliseconds are flagged as slow.
    SLOW_RECEIVER_MS: float = 20.0
    #: A receiver call running more database queries than this is a finding
    #: (``receiver-queries``).
    MAX_RECEIVER_QUERIES: int = 10
    #: A receiver call running the same SQL more times than this is a finding
    #: (``n-plus-one``).
    MAX_REPEATED_QUERIES: int = 2
    #: A send nested deeper than this inside receivers is a finding
    #: (``deep-chain``): 2 allows a send, one from its receiver, and one more.
    MAX_CHAIN_DEPTH: int = 2
    #: Record the call stack of every kept send (``SignalEvent.stack``), not
    #: just the one line it came from. Off by default: walking the stack costs
    #: more than the rest of a send. The toolbar panel turns it on for the
    #: requests it shows, unless the toolbar's ``ENABLE_STACKTRACES`` is off.
    CAPTURE_STACKS: bool = False
    #: List the findings about receivers of Django, the standard library and
    #: installed packages one by one. Off by default: each code's are summed
    #: up in one ``library-receivers`` finding, as their code is not the
    #: project's to change (see :func:`signaltrace.insights.is_library_file`).
    LIBRARY_FINDINGS: bool = False
    #: Module names, inside each installed app's package, that system check
    #: ``signaltrace.W001`` reads besides those of
    #: :data:`signaltrace.checks.RECEIVER_MODULES`; a dotted name reaches into
    #: a subpackage (``"signals.handlers"``).
    EXTRA_RECEIVER_MODULES: tuple[str, ...] = ()
    #: Export every send made while an OpenTelemetry span is recording as a
    #: span, and each receiver call as a child span (the ``opentelemetry``
    #: extra); works without the middleware, the toolbar or any capture.
    OPENTELEMETRY: bool = False
    #: Put the sends' keyword arguments on their spans, as their masked
    #: descriptions. Off by default: spans leave the process.
    OPENTELEMETRY_KWARGS: bool = False
    #: Record one trace per background task run (Django's tasks framework,
    #: the django-tasks backport, Celery). None follows ``ENABLED``.
    TRACE_TASKS: bool | None = None
    #: Where finished traces are kept for the viewer: ``"memory"`` (this
    #: process), ``"database"`` (shared by web and worker processes), or the
    #: dotted path of a store class.
    HISTORY_STORE: str = "memory"

    @property
    def hidden_names(self) -> re.Pattern[str]:
        """The compiled ``HIDDEN_NAMES`` pattern."""
        return _compile(self.HIDDEN_NAMES)

    def with_overrides(self, **overrides: Any) -> Config:
        """Return a copy with the given keys replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_patterns: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    compiled = _patterns.get(pattern)
    if compiled is None:
        compiled = _patterns[pattern] = re.compile(pattern, re.IGNORECASE)
    return compiled


DEFAULTS = Config()
_KEYS = {f.name for f in fields(Config)}


def get_config() -> Config:
    """Return the current configuration: defaults updated by ``settings.SIGNALTRACE``.

    Works without configured Django settings (defaults are used then), so
    ``capture()`` can trace plain ``Signal`` objects in any program. The
    result is kept for as long as the ``SIGNALTRACE`` value is the same
    object: ``override_settings`` and assigning a new dict take effect at
    once, changing the dict in place does not.
    """
    from django.conf import settings

    if not settings.configured:
        return DEFAULTS
    user = getattr(settings, "SIGNALTRACE", None) or _UNSET
    cached = _last
    if cached is not None and cached[0] is user:
        return cached[1]
    unknown = set(user) - _KEYS
    if unknown:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"Unknown SIGNALTRACE keys: {', '.join(sorted(unknown))}. "
            f"Known keys: {', '.join(sorted(_KEYS))}."
        )
    config = replace(DEFAULTS, **user) if user else DEFAULTS
    _remember(user, config)
    return config


#: The last ``SIGNALTRACE`` value read and its Config (see get_config()).
_last: tuple[Any, Config] | None = None
#: What an unset (or empty) ``SIGNALTRACE`` reads as: one object, cached.
_UNSET: dict[str, Any] = {}


def _remember(user: Any, config: Config) -> None:
    global _last
    _last = (user, config)
