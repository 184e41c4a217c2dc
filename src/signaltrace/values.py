"""Safe representations: the one way a traced value leaves the process.

Every value shown in the panel, the viewer, logs or JSON goes through
:func:`safe_repr`, which

- never calls ``__str__`` of a model instance (it may query) nor evaluates a
  queryset, a lazy object or a lazy translation;
- survives a ``__repr__`` that raises;
- truncates long values and big containers;
- masks values stored under sensitive names (password, token, key, secret,
  ...) at any depth, the way Django's ``SafeExceptionReporterFilter`` does.
"""

from __future__ import annotations

import types
from typing import Any

from django.db.models import Manager, Model, QuerySet
from django.utils.functional import LazyObject, Promise, empty

from signaltrace.conf import DEFAULTS, Config

__all__ = ["format_exception", "is_hidden", "safe_kwargs", "safe_repr", "truncate"]

_ELLIPSIS = "…"
_PLAIN = (type(None), bool, int, float, complex)
_SEQUENCES: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
}


def is_hidden(name: object, config: Config = DEFAULTS) -> bool:
    """Whether a value stored under *name* must be masked."""
    return isinstance(name, str) and config.hidden_names.search(name) is not None


def truncate(text: str, limit: int) -> str:
    """Cut *text* to at most *limit* characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + _ELLIPSIS


def safe_kwargs(kwargs: dict[str, Any], config: Config = DEFAULTS) -> dict[str, str]:
    """Return the safe representation of each keyword argument, masked by name."""
    return {
        name: config.MASK if is_hidden(name, config) else safe_repr(value, config)
        for name, value in kwargs.items()
    }


def safe_repr(value: object, config: Config = DEFAULTS) -> str:
    """Return a representation of *value* that is safe to show (see module doc)."""
    return truncate(_repr(value, config, config.MAX_DEPTH), config.MAX_VALUE_LENGTH)


def format_exception(exception: BaseException | None, config: Config = DEFAULTS) -> str:
    """Return ``"ValueError: message"`` for an exception, safely and truncated."""
    if exception is None:
        return ""
    cls = type(exception)
    try:
        message = str(exception)
    except Exception:
        message = "<unprintable message>"
    text = f"{cls.__qualname__}: {message}" if message else cls.__qualname__
    return truncate(text, config.MAX_VALUE_LENGTH)


def _repr(value: object, config: Config, depth: int) -> str:
    # type() rather than isinstance(): isinstance() reads __class__, which a
    # LazyObject forwards to (and so evaluates) the object it wraps.
    cls = type(value)
    if cls in _PLAIN:
        return repr(value)
    if cls is str or cls is bytes:
        return repr(value[: config.MAX_VALUE_LENGTH])  # type: ignore[index]
    if issubclass(cls, LazyObject):
        wrapped = value.__dict__.get("_wrapped", empty)
        if wrapped is empty:
            return f"<{cls.__name__}: not evaluated>"
        return _repr(wrapped, config, depth)
    if issubclass(cls, Promise):
        return "<lazy string>"
    if issubclass(cls, Model):
        return _model_repr(value)
    if issubclass(cls, type):
        if issubclass(value, Model):  # type: ignore[arg-type]
            return f"<model {value._meta.label}>"  # type: ignore[attr-defined]
        return f"<class {value.__module__}.{value.__qualname__}>"  # type: ignore[attr-defined]
    if issubclass(cls, QuerySet):
        state = "evaluated" if value._result_cache is not None else "not evaluated"  # type: ignore[attr-defined]
        return f"<{cls.__name__} {value.model._meta.label}: {state}>"  # type: ignore[attr-defined]
    if issubclass(cls, Manager):
        model = value.model  # type: ignore[attr-defined]
        label = model._meta.label if model is not None else "?"
        name = getattr(value, "name", None)  # None for related managers
        return f"<{cls.__name__} {label}{'.' + name if name else ''}>"
    if issubclass(
        cls, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)
    ):
        from signaltrace.naming import callable_name

        return f"<function {callable_name(value)}>"
    if issubclass(cls, dict):
        if depth <= 0:
            return "{…}"
        return _dict_repr(value, config, depth)  # type: ignore[arg-type]
    for base, (opening, closing) in _SEQUENCES.items():
        if issubclass(cls, base):
            if depth <= 0:
                return f"{opening}…{closing}"
            return _sequence_repr(value, opening, closing, config, depth)
    return _object_repr(value, config)


def _model_repr(instance: Any) -> str:
    # Model.__repr__ calls __str__, which may query: build our own from the
    # primary key value already in the instance's __dict__.
    meta = type(instance)._meta
    pk = instance.__dict__.get(meta.pk.attname) if meta.pk is not None else None
    return f"<{meta.label} pk={pk!r}>"


#: Keys of a WSGI environ that describe the request. runserver and other servers
#: copy the whole process environment into it too (DATABASE_URL and the like),
#: which has no place in a trace.
_WSGI_REQUEST_KEYS = ("HTTP_", "wsgi.", "SERVER_", "REMOTE_", "CONTENT_")
_WSGI_REQUEST_NAMES = frozenset(
    {"REQUEST_METHOD", "PATH_INFO", "SCRIPT_NAME", "QUERY_STRING", "REQUEST_URI"}
)


def _is_request_key(key: object) -> bool:
    return isinstance(key, str) and (
        key in _WSGI_REQUEST_NAMES or key.startswith(_WSGI_REQUEST_KEYS)
    )


def _dict_repr(value: dict[Any, Any], config: Config, depth: int) -> str:
    items = []
    try:
        pairs = list(dict.items(value))
    except Exception:
        return _object_repr(value, config)
    hidden_environment = 0
    if "wsgi.version" in dict.keys(value):
        request_pairs = [(k, v) for k, v in pairs if _is_request_key(k)]
        hidden_environment = len(pairs) - len(request_pairs)
        pairs = request_pairs
    for key, item in pairs[: config.MAX_ITEMS]:
        shown = (
            config.MASK if is_hidden(key, config) else _repr(item, config, depth - 1)
        )
        items.append(f"{_repr(key, config, 0)}: {shown}")
    if len(pairs) > config.MAX_ITEMS:
        items.append(f"…+{len(pairs) - config.MAX_ITEMS}")
    if hidden_environment:
        items.append(f"…+{hidden_environment} process environment variables")
    body = "{" + ", ".join(items) + "}"
    if type(value) is not dict:
        return f"{type(value).__name__}({body})"
    return body


def _sequence_repr(
    value: Any, opening: str, closing: str, config: Config, depth: int
) -> str:
    try:
        items = list(value)
    except Exception:
        return _object_repr(value, config)
    shown = [_repr(item, config, depth - 1) for item in items[: config.MAX_ITEMS]]
    if len(items) > config.MAX_ITEMS:
        shown.append(f"…+{len(items) - config.MAX_ITEMS}")
    if not items and type(value) is set:
        return "set()"
    trailing = "," if type(value) is tuple and len(items) == 1 else ""
    return opening + ", ".join(shown) + trailing + closing


def _object_repr(value: object, config: Config) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ must not break tracing
        cls = type(value)
        failure = type(error).__name__
        return f"<{cls.__module__}.{cls.__qualname__} (repr failed: {failure})>"
    return truncate(text, config.MAX_VALUE_LENGTH)
