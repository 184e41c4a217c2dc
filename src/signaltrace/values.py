"""Describing values: the one way a traced value leaves the process.

A send's sender and keyword arguments, a receiver's response and exception
are *described* once, when the signal is sent or the receiver returns, and
every surface (panel, viewer, JSON, text, logs, snapshots, failure messages)
shows that description. A description is small, immutable and JSON-ready:

- ``None``, ``True``/``False``, ints that JSON readers keep exactly, finite
  floats and strings stay what they are (``"created": true``,
  ``"using": "default"``), strings cut to ``MAX_VALUE_LENGTH``;
- anything else becomes a safe string: ``<blog.Post pk=3>``, ``[1, 2, …+98]``.

Describing

- never calls ``__str__`` of a model instance (it may query), never evaluates
  a queryset, a lazy object, a lazy translation or an iterator;
- takes bounded time and memory whatever the value's size: it looks at no
  more than ``MAX_ITEMS`` items of a container and ``MAX_DEPTH`` levels, cuts
  strings before copying them;
- never raises: a ``__repr__`` that fails, or an int too long to print,
  becomes a placeholder;
- masks values stored under sensitive names (``HIDDEN_NAMES``) at any depth,
  the way Django's ``SafeExceptionReporterFilter`` does, header pairs
  (``(b"authorization", b"Bearer …")``) by the header's name, and secrets
  inside any text: card numbers (those that pass the Luhn check), the
  credentials of a URL (``https://user:password@host/``), query parameters
  under sensitive names (``?token=…``) and ``Bearer``/``Basic`` credentials;
- never shows a session's key (``django.contrib.sessions``, or any
  ``AbstractBaseSession``).
"""

from __future__ import annotations

import array
import collections
import functools
import itertools
import math
import re
import types
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

from django.db.models import Manager, Model, QuerySet
from django.template.context import BaseContext
from django.utils.datastructures import CaseInsensitiveMapping
from django.utils.functional import LazyObject, Promise, empty

from signaltrace import naming
from signaltrace.conf import DEFAULTS, Config

__all__ = [
    "Describer",
    "ErrorInfo",
    "Value",
    "describer",
    "format_exception",
    "is_hidden",
    "safe_kwargs",
    "safe_repr",
    "truncate",
]

#: A description: a JSON scalar, or the safe text of anything else.
Value = None | bool | int | float | str

_ELLIPSIS = "…"
#: Ints beyond this magnitude lose precision in JavaScript's JSON.parse: they
#: are described as text.
_SAFE_INT = 2**53
#: Ints longer than this many bits are not printed at all: printing is
#: quadratic in the digits, and Python refuses beyond 4,300 of them.
_PRINTED_INT_BITS = 1024
_SEQUENCES: tuple[tuple[type, str, str], ...] = (
    (list, "[", "]"),
    (tuple, "(", ")"),
    (set, "{", "}"),
    (frozenset, "frozenset({", "})"),
    (collections.deque, "deque([", "])"),
    (type({}.keys()), "dict_keys([", "])"),
    (type({}.values()), "dict_values([", "])"),
    (type({}.items()), "dict_items([", "])"),
)
#: Keys of a WSGI environ that describe the request. runserver and other servers
#: copy the whole process environment into it too (DATABASE_URL and the like),
#: which has no place in a trace.
_WSGI_REQUEST_PREFIXES = ("HTTP_", "wsgi.", "SERVER_", "REMOTE_", "CONTENT_")
_WSGI_REQUEST_NAMES = frozenset(
    {"REQUEST_METHOD", "PATH_INFO", "SCRIPT_NAME", "QUERY_STRING", "REQUEST_URI"}
)
#: How many types each describer remembers the way of describing; types made
#: at run time (historical models in migrations, classes in functions) would
#: otherwise grow it without end.
_TYPE_CACHE_SIZE = 512
#: The types whose values are their own description, always.
_SELF_DESCRIBED = frozenset({type(None), bool})

# Secrets inside a text. _SUSPECT is one quick search that every text with a
# secret matches; only texts it finds go through the rest.
_SUSPECT = re.compile(r"[0-9][0-9 -]{10,}[0-9]|://|=|bearer|basic|digest", re.I)
#: Groups of digits, each after a space or a dash, as cards are printed: a
#: card number is 13 to 19 digits of them, and Luhn decides (_cards_masked).
_DIGITS = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
#: The user information of a URL: ``scheme://user:password@``, to the last
#: ``@`` before the path (a password may hold one).
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s'\"<>]+@", re.I)
#: A URL's ``user:password`` running on to where the text is cut.
_OPEN_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]*:[^/\s@'\"<>]*$", re.I)
#: Where the words of a camelCase name meet (``cardNumber``).
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: ``name=value`` in a query string (or in a text quoting one).
_PARAMETER = re.compile(r"(^|[?&;\s'\"])([^=&?;\s'\"<>]+)=([^&#;?\s'\"<>]*)")
#: Credentials of an HTTP authentication scheme.
_CREDENTIALS = re.compile(r"\b(bearer|basic|digest)\s+[^\s'\",]{6,}", re.I)
#: How much of a long text is searched for secrets, beyond what is shown: a
#: secret cut by the length limit is still found.
_MARGIN = 64
#: Short texts found free of secrets, remembered (keyword arguments such as
#: ``using="default"`` repeat at every send).
_CLEAN_CACHE_SIZE = 4096
_CLEAN_TEXT_LENGTH = 128


class ErrorInfo(NamedTuple):
    """An exception, described: its class and its message.

    ``str()`` gives ``"ValueError: bad value"``, as a traceback's last line.
    """

    #: The exception class's dotted path, e.g. ``builtins.ValueError``.
    type: str
    #: The class's qualified name, e.g. ``ValueError``.
    name: str
    #: ``str(exception)``, cut like any other text.
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


class Describer:
    """Describes values under one :class:`~signaltrace.conf.Config`.

    Made once per configuration (see :func:`describer`) and kept by each
    trace, so that the settings are read once, not at every send.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.limit = config.MAX_VALUE_LENGTH
        self.items = config.MAX_ITEMS
        self.depth = config.MAX_DEPTH
        self.mask = config.MASK
        self._pattern = config.hidden_names
        #: name -> whether values under it are masked. Keyword argument names
        #: are few and repeat at every send: the pattern runs once per name.
        self._hidden: dict[str, bool] = {}
        #: type -> how its instances are described (see _describer_of).
        self._describers: dict[type, Callable[[Any], Value]] = {}
        #: type -> how its instances are shown as text (see _text_of_type).
        self._by_type: dict[type, Callable[[Any, int], str]] = {}
        #: short text -> whether it holds no secret (see _is_clean).
        self._clean: dict[str, bool] = {}

    # ------------------------------------------------------------ the API

    def describe(self, value: object) -> Value:
        """The description of *value*: a JSON scalar or safe text."""
        cls = type(value)
        describe = self._describers.get(cls) or self._describer_of(cls)
        return describe(value)

    def is_own_description(self, value: object) -> bool:
        """Whether *value* is a JSON scalar that shows as it is.

        ``None``, booleans, ints JSON readers keep exactly, finite floats, and
        strings within ``MAX_VALUE_LENGTH`` that hold no secret.
        """
        return self.describe(value) is value

    def kwargs(self, named: dict[str, Any]) -> dict[str, Value]:
        """Describe keyword arguments, masking those under sensitive names."""
        # describe() and is_hidden() in one loop, their table and cache read
        # here: as calls, a post_save-shaped send costs ~0.7 µs more.
        # None and booleans, which most sends pass, without a call.
        hidden = self._hidden
        describers = self._describers
        described: dict[str, Value] = {}
        for name, value in named.items():
            masked = hidden.get(name)
            if masked is None:
                masked = self.is_hidden(name)
            if masked:
                described[name] = self.mask
                continue
            cls = type(value)
            if cls in _SELF_DESCRIBED:
                described[name] = value
                continue
            describe = describers.get(cls) or self._describer_of(cls)
            described[name] = describe(value)
        return described

    def row(self, model: object, named: dict[str, Any]) -> Value:
        """``pre_init``'s ``args``: a row's values by position, without names.

        Shown as the tuple they are, each value masked when the name of the
        field it goes to is sensitive (a session's key, a user's password
        hash): Django gives them to the fields in order, the concrete fields
        when no keyword argument comes with them, else all of them.
        """
        values = named["args"]
        meta = model.__dict__.get("_meta") if issubclass(type(model), type) else None
        if meta is None or type(values) is not tuple:
            return self.describe(values)
        fields = meta.fields if named.get("kwargs") else meta.concrete_fields
        try:
            shown = [
                self.mask
                if self.is_hidden(field.name) or self.is_hidden(field.attname)
                else self.text(value, self.depth - 1)
                for field, value in zip(fields, values[: self.items], strict=False)
            ]
        except Exception as error:  # describing must never fail the program
            return _failed(values, error)
        if len(values) > self.items:
            shown.append(f"…+{len(values) - self.items}")
        trailing = "," if len(values) == 1 else ""
        return self._cut("(" + ", ".join(shown) + trailing + ")")

    def sender(self, sender: object) -> str:
        """The name of a sender: a class's dotted path, ``"None"``, else its text."""
        if sender is None:
            return "None"
        name = naming.class_names.get(id(sender))
        if name is not None:
            return name
        if issubclass(type(sender), type):
            return naming.class_name(sender)  # type: ignore[arg-type]
        return self.text(sender)

    def text(self, value: object, depth: int | None = None) -> str:
        """The safe text of *value*, as it shows inside a container.

        Strings are quoted (``'default'``); see :func:`safe_repr`.
        """
        try:
            return self._safe(self._text(value, self.depth if depth is None else depth))
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # describing must never fail the program
            return _failed(value, error)

    def _safe(self, text: str) -> str:
        """Text :meth:`_text` built, as it is shown: a plain ``str``, masked, cut."""
        if type(text) is _Checked:
            return str.__str__(text)
        if type(text) is str:
            # A short text seen before (a header's value) is known clean.
            return self._str(text)
        return self._shown(text)  # a repr() of a str subclass: copied

    def error(self, exception: BaseException) -> ErrorInfo:
        """Describe an exception: its class's dotted path and its message."""
        cls = type(exception)
        try:
            message = self._message(exception)
        except KeyboardInterrupt:
            raise
        except BaseException:
            message = None
        message = "<unprintable message>" if message is None else self._shown(message)
        return ErrorInfo(
            f"{cls.__module__}.{cls.__qualname__}", cls.__qualname__, message
        )

    def is_hidden(self, name: object) -> bool:
        """Whether a value stored under *name* is masked.

        The pattern is searched in the name as it is, and with its camelCase
        words apart (``cardNumber`` as ``card_Number``); a bytes name (a
        header's) as Latin-1 text.
        """
        if type(name) is not str:
            if type(name) is not bytes:
                return False
            name = name.decode("latin-1")
        masked = self._hidden.get(name)
        if masked is None:
            search = self._pattern.search
            masked = search(name) is not None or (
                search(_CAMEL.sub("_", name)) is not None
            )
            if len(self._hidden) < 4096:
                self._hidden[name] = masked
        return masked

    # ----------------------------------------------------------- secrets

    def _is_clean(self, text: str) -> bool:
        """Whether *text* holds no secret to mask (remembered for short ones)."""
        clean = self._clean.get(text)
        if clean is None:
            clean = _SUSPECT.search(text) is None or self._masked(text) == text
            if len(text) <= _CLEAN_TEXT_LENGTH:
                if len(self._clean) >= _CLEAN_CACHE_SIZE:
                    self._clean.clear()
                self._clean[text] = clean
        return clean

    def _masked(self, text: str) -> str:
        """*text* with the secrets inside it masked (see the module documentation)."""
        if _SUSPECT.search(text) is None:
            return text
        mask = self.mask
        text = _DIGITS.sub(lambda run: _cards_masked(run[0], mask), text)
        text = _USERINFO.sub(lambda url: f"{url[1]}{mask}@", text)
        text = _PARAMETER.sub(
            lambda pair: (
                f"{pair[1]}{pair[2]}={mask}"
                if pair[3] and self.is_hidden(pair[2])
                else pair[0]
            ),
            text,
        )
        return _CREDENTIALS.sub(lambda scheme: f"{scheme[1]} {mask}", text)

    # ----------------------------------------------------------- internals

    def _describer_of(self, cls: type) -> Callable[[Any], Value]:
        """How values of *cls* are described; worked out once per type.

        JSON scalars stay what they are: ``None``, booleans, ints JSON readers
        keep exactly, finite floats, strings within the length limit that hold
        no secret. Any other value is its safe text (:meth:`text`), a string
        (or a ``str`` subclass, such as a ``SafeString``) cut and masked as
        plain text.
        """
        describe: Callable[[Any], Value]
        if cls in _SELF_DESCRIBED:
            describe = _itself
        elif cls is int:
            describe = self._int
        elif cls is float:
            describe = _float
        elif cls is str:
            describe = self._str
        elif issubclass(cls, str):
            describe = self._shown
        elif issubclass(cls, Model):
            describe = self._model_describer(cls)
        else:
            describe = self.text
        if len(self._describers) >= _TYPE_CACHE_SIZE:
            self._describers.clear()
        self._describers[cls] = describe
        return describe

    def _model_describer(self, model: type) -> Callable[[Any], Value]:
        """How instances of *model* are described: their text, from the model's
        text function straight away (a model instance comes with most sends).

        Text that function vouches for (``<app.Model pk=3>``, with an integer
        key or none) within the length limit is the description; any other
        is cut and masked as :meth:`text` finishes its texts, from the one
        call of the text function.
        """
        show = self._text_of_type(model)
        limit = self.limit

        def describe(instance: Any) -> Value:
            try:
                text = show(instance, self.depth)
                if type(text) is _Checked and len(text) <= limit:
                    return str.__str__(text)
                return self._safe(self._cut(text))  # as text() finishes it
            except KeyboardInterrupt:
                raise
            except BaseException:  # the way of every value says how it failed
                return self.text(instance)

        return describe

    def _int(self, value: int) -> Value:
        return value if -_SAFE_INT <= value <= _SAFE_INT else self.text(value)

    def _str(self, value: str) -> str:
        if len(value) <= self.limit and self._is_clean(value):
            return value
        return self._shown(value)

    def _shown(self, text: str) -> str:
        """*text* as it is shown: masked and cut, without copying it whole.

        Secrets are searched in the start of the text, a margin past what
        shows.
        """
        window = str.__getitem__(text, slice(self.limit + _MARGIN))
        return self._cut(self._masked(window))

    def _message(self, exception: BaseException) -> str:
        """An exception's message, as ``str()`` gives it, built within bounds.

        For Python's own ways of making it, from the arguments (most
        exceptions, and ``KeyError``), the arguments are described here: a
        huge argument is not printed whole, and a model instance's
        ``__str__`` (it may query) is not called. An exception class with a
        ``__str__`` of its own gets it called.
        """
        make = type(exception).__str__
        if make is not BaseException.__str__ and make is not KeyError.__str__:
            message = str(exception)
            # A str subclass (a SafeString) as the plain text it holds.
            return str.__str__(message) if isinstance(message, str) else ""
        args = exception.args
        if type(args) is not tuple or not args:
            return ""
        if len(args) > 1:
            return self._text(args, self.depth)
        argument = args[0]
        if make is BaseException.__str__ and issubclass(type(argument), str):
            return cast(str, argument)  # cut before it is copied, by error()
        return self._text(argument, self.depth)

    def _cut(self, text: str) -> str:
        """Cut *text* to the length limit, copying only what is kept.

        A URL's ``user:password`` cut before its ``@`` (which would have
        masked it) is masked from the ``://`` on.
        """
        if len(text) <= self.limit:
            return text
        kept = max(self.limit - 1, 0)
        text = _OPEN_USERINFO.sub(lambda url: url[1] + self.mask, text[:kept])
        return text[:kept] + _ELLIPSIS

    def _text(self, value: object, depth: int) -> str:
        # type() rather than isinstance(): isinstance() reads __class__, which
        # a LazyObject forwards to (and so evaluates) the object it wraps.
        cls = type(value)
        if cls is str or cls is bytes:
            return repr(value[: self.limit])  # type: ignore[index]
        if cls is int:
            return _int_text(value)  # type: ignore[arg-type]
        if value is None or cls is bool or cls is float:
            return repr(value)
        show = self._by_type.get(cls)
        if show is None:
            show = self._text_of_type(cls)
        return self._cut(show(value, depth))

    def _text_of_type(self, cls: type) -> Callable[[Any, int], str]:
        """How instances of *cls* are shown; worked out once per type."""
        show = self._choose(cls)
        if len(self._by_type) >= _TYPE_CACHE_SIZE:
            self._by_type.clear()
        self._by_type[cls] = show
        return show

    def _choose(self, cls: type) -> Callable[[Any, int], str]:
        if issubclass(cls, str | bytes | bytearray):
            return lambda value, depth: repr(cls.__getitem__(value, slice(self.limit)))
        if issubclass(cls, int) and not issubclass(cls, bool):
            return lambda value, depth: _int_text(int(value))
        if issubclass(cls, LazyObject):
            return self._lazy_text
        if issubclass(cls, Promise):
            return lambda value, depth: "<lazy string>"
        if issubclass(cls, Model):
            return _model_text_of(cls, self.mask, self.is_hidden)
        if issubclass(cls, type):
            return _class_text
        if issubclass(cls, QuerySet):
            return _queryset_text
        if issubclass(cls, Manager):
            return _manager_text
        if issubclass(
            cls,
            types.FunctionType | types.MethodType | types.BuiltinFunctionType,
        ):
            return lambda value, depth: f"<function {naming.callable_name(value)}>"
        if issubclass(cls, BaseContext):
            # A template context's repr is every dict it holds, in full.
            return lambda value, depth: f"<{cls.__name__}: {len(value.dicts)} levels>"
        if issubclass(cls, types.GeneratorType | types.CoroutineType):
            return lambda value, depth: f"<{cls.__name__}: not run>"
        if issubclass(cls, dict):
            return self._dict_text
        if issubclass(cls, CaseInsensitiveMapping):  # request.headers
            return lambda value, depth: self._pairs_text(
                value.items(), len(value), f"{cls.__name__}(", ")", depth
            )
        if issubclass(cls, array.array):
            return lambda value, depth: self._sequence_text(
                f"array({value.typecode!r}, [", "])", value, depth
            )
        for base, opening, closing in _SEQUENCES:
            if issubclass(cls, base):
                return functools.partial(self._sequence_text, opening, closing)
        return self._object_text

    def _lazy_text(self, value: Any, depth: int) -> str:
        wrapped = value.__dict__.get("_wrapped", empty)
        if wrapped is empty:
            return f"<{type(value).__name__}: not evaluated>"
        return self._text(wrapped, depth)

    def _dict_text(self, value: dict[Any, Any], depth: int) -> str:
        keys = dict.keys(value)
        total = len(keys)
        pairs: Any = dict.items(value)
        notes: tuple[str, ...] = ()
        if "wsgi.version" in keys and depth > 0:
            pairs = [(key, item) for key, item in pairs if _is_request_key(key)]
            notes = (f"…+{total - len(pairs)} process environment variables",)
            total = len(pairs)
        opening, closing = (
            ("", "") if type(value) is dict else (f"{type(value).__name__}(", ")")
        )
        return self._pairs_text(pairs, total, opening, closing, depth, notes)

    def _pairs_text(
        self,
        pairs: Any,
        total: int,
        opening: str,
        closing: str,
        depth: int,
        notes: tuple[str, ...] = (),
    ) -> str:
        """A mapping's first items, each value masked by its key, then *notes*."""
        if depth <= 0:
            return opening + "{…}" + closing
        shown = [
            f"{self.text(key, 0)}: "
            + (self.mask if self.is_hidden(key) else self.text(item, depth - 1))
            for key, item in itertools.islice(pairs, self.items)
        ]
        if total > self.items:
            shown.append(f"…+{total - self.items}")
        shown.extend(notes)
        return opening + "{" + ", ".join(shown) + "}" + closing

    def _sequence_text(self, opening: str, closing: str, value: Any, depth: int) -> str:
        if depth <= 0:
            return f"{opening}…{closing}"
        cls = type(value)
        total = len(value)
        first = list(itertools.islice(iter(value), self.items))
        if total == 2 and issubclass(cls, tuple | list) and self.is_hidden(first[0]):
            # A header pair, ASGI's (b"cookie", b"…") or ["Authorization", "…"]:
            # its value masked by its name.
            return f"{opening}{self.text(first[0], 0)}, {self.mask}{closing}"
        shown = [self.text(item, depth - 1) for item in first]
        if issubclass(cls, set | frozenset):
            # Sets have no order: sorted, they read (and diff) the same each run.
            shown.sort()
        if total > self.items:
            shown.append(f"…+{total - self.items}")
        if not total and cls is set:
            return "set()"
        trailing = "," if cls is tuple and total == 1 else ""
        return opening + ", ".join(shown) + trailing + closing

    def _object_text(self, value: object, depth: int) -> str:
        return repr(value)


def describer(config: Config) -> Describer:
    """The :class:`Describer` of *config*: one per distinct configuration.

    Shared by every trace made under it, so that what a describer works out
    once (how each type is described, which names are masked, which texts
    hold no secret) is worked out once per process, not once per request.
    A configuration holding a value that cannot be hashed gets its own.
    """
    try:
        return _shared_describer(config)
    except TypeError:  # a list in place of a tuple, say
        return Describer(config)


@functools.lru_cache(maxsize=64)
def _shared_describer(config: Config) -> Describer:
    return Describer(config)


def _itself(value: Value) -> Value:
    return value


def _float(value: float) -> Value:
    # JSON has no NaN or infinity.
    return value if math.isfinite(value) else repr(value)


def _failed(value: object, error: BaseException) -> str:
    cls = type(value)
    return (
        f"<{cls.__module__}.{cls.__qualname__} (repr failed: {type(error).__name__})>"
    )


def _int_text(value: int) -> str:
    bits = value.bit_length()
    if bits > _PRINTED_INT_BITS:
        return f"<int of {bits} bits>"
    return repr(value)


class _Checked(str):
    """Text built here that holds no secret: not searched for one again."""

    __slots__ = ()


def _model_text_of(
    model: Any, mask: str, hidden: Callable[[str], bool]
) -> Callable[[Any, int], str]:
    """How instances of *model* are shown: ``<app.Model pk=3>``.

    Model.__repr__ calls __str__, which may query: the text is built from the
    primary key value already in the instance's __dict__. A primary key that
    is a secret (a session's key, which lets whoever reads it take the
    session over; an API token's key) is masked (once set): the model stores
    sessions, or its primary key's name is sensitive (*hidden*). An integer
    key (or none yet) cannot hold a secret: that text is not searched again.
    """
    meta = model._meta
    label = meta.label
    field = meta.pk
    attname = field.attname if field is not None else None
    if _is_session(model) or (
        field is not None and (hidden(field.name) or hidden(field.attname))
    ):

        def secret(instance: Any, depth: int) -> str:
            pk = instance.__dict__.get(attname) if attname is not None else None
            return _Checked(f"<{label} pk={mask if pk else repr(pk)}>")

        return secret

    def text(instance: Any, depth: int) -> str:
        pk = instance.__dict__.get(attname) if attname is not None else None
        if pk is None or type(pk) is int:
            return _Checked(f"<{label} pk={pk!r}>")
        return f"<{label} pk={pk!r}>"

    return text


def _is_session(model: type) -> bool:
    """Whether *model* stores sessions (an ``AbstractBaseSession``).

    Told by name: importing ``django.contrib.sessions`` would define its
    models, which needs the app registry ready and the app installed.
    """
    return any(
        base.__name__ == "AbstractBaseSession"
        and base.__module__ == "django.contrib.sessions.base_session"
        for base in model.__mro__
    )


def _cards_masked(run: str, mask: str) -> str:
    """*run* (digit groups, see ``_DIGITS``) with the card numbers in it masked.

    A card number is 13 to 19 digits of whole groups that pass the Luhn
    check: ``4111 1111 1111 1111`` in ``4111 1111 1111 1111 12/30`` or in
    ``order 12 4111 1111 1111 1111``. Without spaces or dashes, the run is
    the candidate: a longer number is not searched for one inside it.
    """
    groups = [(group.start(), group.end()) for group in _GROUP.finditer(run)]
    if sum(end - start for start, end in groups) < 13:
        return run
    shown = []
    done = 0  # how much of *run* is in *shown*
    first = 0
    while first < len(groups):
        card = None
        digits = ""
        for last in range(first, len(groups)):
            digits += run[groups[last][0] : groups[last][1]]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and _luhn(digits):
                card = last  # the longest wins
        if card is None:
            first += 1
            continue
        shown += [run[done : groups[first][0]], mask]
        done = groups[card][1]
        first = card + 1
    return "".join(shown) + run[done:]


def _luhn(candidate: str) -> bool:
    """Whether the digits of *candidate* pass the Luhn check cards carry."""
    digits = [int(character) for character in candidate if character.isdigit()]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _class_text(cls: Any, depth: int) -> str:
    if issubclass(cls, Model):
        return f"<model {cls._meta.label}>"
    return f"<class {cls.__module__}.{cls.__qualname__}>"


def _queryset_text(queryset: Any, depth: int) -> str:
    state = "evaluated" if queryset._result_cache is not None else "not evaluated"
    return f"<{type(queryset).__name__} {queryset.model._meta.label}: {state}>"


def _manager_text(manager: Any, depth: int) -> str:
    model = manager.model
    label = model._meta.label if model is not None else "?"
    name = getattr(manager, "name", None)  # None for related managers
    return f"<{type(manager).__name__} {label}{'.' + name if name else ''}>"


def _is_request_key(key: object) -> bool:
    return type(key) is str and (
        key in _WSGI_REQUEST_NAMES or key.startswith(_WSGI_REQUEST_PREFIXES)
    )


# ------------------------------------------------- functions of DEFAULTS


def truncate(text: str, limit: int) -> str:
    """Cut *text* to at most *limit* characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + _ELLIPSIS


def is_hidden(name: object, config: Config = DEFAULTS) -> bool:
    """Whether a value stored under *name* must be masked."""
    return describer(config).is_hidden(name)


def safe_repr(value: object, config: Config = DEFAULTS) -> str:
    """The safe text of *value*: as :meth:`Describer.describe`, strings quoted."""
    return describer(config).text(value)


def safe_kwargs(
    kwargs: Mapping[str, Any], config: Config = DEFAULTS
) -> dict[str, Value]:
    """Describe each keyword argument, masked by name (:meth:`Describer.kwargs`)."""
    return describer(config).kwargs(dict(kwargs))


def format_exception(exception: BaseException | None, config: Config = DEFAULTS) -> str:
    """``"ValueError: message"`` for an exception, safely and truncated."""
    if exception is None:
        return ""
    return str(describer(config).error(exception))
