"""Values are safe to show: no queries, no lazy evaluation, truncated, masked."""

from __future__ import annotations

import array
import collections
import json
import tracemalloc
from typing import Any

import pytest
from django.db import models
from django.dispatch import Signal
from django.template import Context, Template
from django.template.context import BaseContext, RequestContext
from django.test import RequestFactory
from django.test.signals import template_rendered
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy

from signaltrace import capture
from signaltrace.conf import DEFAULTS, Config
from signaltrace.render import render_text
from signaltrace.testing import capture_signals
from signaltrace.values import (
    describer,
    format_exception,
    is_hidden,
    safe_kwargs,
    safe_repr,
)
from tests.app.models import Author, Book

MASK = DEFAULTS.MASK
#: An int of more than 4,300 digits, which Python refuses to print.
HUGE = 10**5000
HUGE_TEXT = f"<int of {HUGE.bit_length()} bits>"
#: Carries the values of the tests that make a trace.
value_sent = Signal()


def test_a_model_instance_shows_label_and_pk_without_calling_str() -> None:
    assert safe_repr(Author(pk=3, name="ada")) == "<testapp.Author pk=3>"
    assert safe_repr(Author(name="ada")) == "<testapp.Author pk=None>"


@pytest.mark.django_db
def test_showing_model_instances_and_querysets_runs_no_query(
    django_assert_num_queries: Any,
) -> None:
    author = Author.objects.create(name="ada")
    book = Book.objects.create(title="Notes", author=author)
    book = Book.objects.get(pk=book.pk)  # author not loaded: __str__ would query
    with django_assert_num_queries(0):
        assert safe_repr(book) == f"<testapp.Book pk={book.pk}>"
        assert safe_repr(Book.objects.all()) == "<QuerySet testapp.Book: not evaluated>"
        assert safe_repr(Book.objects) == "<Manager testapp.Book.objects>"
        assert safe_repr(author.books) == "<RelatedManager testapp.Book>"


def test_a_lazy_object_is_not_evaluated() -> None:
    evaluated = []
    lazy = SimpleLazyObject(lambda: evaluated.append(1) or "value")
    assert safe_repr(lazy) == "<SimpleLazyObject: not evaluated>"
    assert evaluated == []
    str(lazy)
    assert safe_repr(lazy) == "'value'"


def test_a_lazy_translation_is_not_evaluated() -> None:
    assert safe_repr(gettext_lazy("Hello")) == "<lazy string>"


def test_a_failing_repr_becomes_a_placeholder() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert safe_repr(Broken()) == (
        "<tests.test_values.test_a_failing_repr_becomes_a_placeholder.<locals>.Broken"
        " (repr failed: RuntimeError)>"
    )
    assert safe_repr([Broken()]).startswith("[<tests.test_values")


def test_long_values_are_truncated() -> None:
    config = Config(MAX_VALUE_LENGTH=20)
    shown = safe_repr("x" * 1000, config)
    assert len(shown) == 20
    assert shown.endswith("…")


def test_big_containers_show_the_first_items_and_how_many_more() -> None:
    assert safe_repr(list(range(30)), Config(MAX_ITEMS=3)) == "[0, 1, 2, …+27]"


def test_deep_nesting_is_cut() -> None:
    assert safe_repr([[[["deep"]]]], Config(MAX_DEPTH=2)) == "[[[…]]]"


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "PASSWORD",
        "api_key",
        "token",
        "secret",
        "credentials",
        "signature",
        "cookie",
        "session_key",
        "csrftoken",
        "HTTP_AUTHORIZATION",
    ],
)
def test_sensitive_names_are_hidden(name: str) -> None:
    assert is_hidden(name)


@pytest.mark.parametrize(
    "name",
    [
        "credit_card",
        "card_number",
        "cvv",
        "pin",
        "user_pin",
        "iban",
        "otp",
        "ssn",
        "bearer",
        "auth",
        "private_key",
        # camelCase words count apart; some run together.
        "cardNumber",
        "cardnumber",
        "cc_number",
        "cvvCode",
        "userPin",
        "pincode",
        "ibanNumber",
        "otpCode",
        "totp",
        "social_security_number",
        "account_number",
        "security_code",
        "privateKey",
        b"authorization",
    ],
)
def test_payment_identity_and_credential_names_are_hidden(name: str) -> None:
    assert is_hidden(name)


@pytest.mark.parametrize(
    "name",
    [
        "author",
        "shipping",
        "discard",
        "footprint",
        "classname",
        "spinner",
        "opinion",
        "hotpot",
        "Discarded",
        "snapShot",
    ],
)
def test_names_merely_containing_a_short_word_are_shown(name: str) -> None:
    assert not is_hidden(name)
    assert safe_kwargs({name: "visible"}) == {name: "visible"}


@pytest.mark.parametrize("name", ["instance", "created", "raw", "using", "username"])
def test_ordinary_names_are_shown(name: str) -> None:
    assert not is_hidden(name)


def test_sensitive_values_are_masked_at_any_depth() -> None:
    kwargs = {
        "credentials": {"username": "ada", "password": "s3cret"},
        "request": {"data": [{"token": "abc", "page": 2}]},
        "password": "s3cret",
    }
    shown = safe_kwargs(kwargs)
    assert shown["credentials"] == MASK
    assert shown["password"] == MASK
    assert shown["request"] == f"{{'data': [{{'token': {MASK}, 'page': 2}}]}}"
    assert "s3cret" not in repr(shown)
    assert "abc" not in repr(shown)


def test_hidden_names_are_configurable() -> None:
    config = Config(HIDDEN_NAMES="pin")
    assert safe_kwargs({"pin": 1234, "password": "x"}, config) == {
        "pin": MASK,
        "password": "x",
    }


def test_html_is_left_for_templates_to_escape() -> None:
    assert safe_repr("<script>alert(1)</script>") == "'<script>alert(1)</script>'"


def test_exceptions_are_formatted_with_their_class() -> None:
    assert format_exception(ValueError("bad value")) == "ValueError: bad value"
    assert format_exception(KeyError()) == "KeyError"


def test_a_wsgi_environ_shows_the_request_not_the_process_environment() -> None:
    environ = {
        "wsgi.version": (1, 0),
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "HTTP_HOST": "testserver",
        "DATABASE_URL": "postgres://user:hunter2@db/app",
        "HOME": "/root",
    }
    shown = safe_repr(environ, Config(MAX_VALUE_LENGTH=1000))
    assert "hunter2" not in shown
    assert "HOME" not in shown
    assert "'PATH_INFO': '/'" in shown
    assert shown.endswith("…+2 process environment variables}")


# ------------------------------------------------------------ bounded cost


def described_with_peak(value: object) -> tuple[str, int]:
    """``safe_repr(value)``, and the most memory describing it took, in bytes."""
    tracemalloc.start()
    try:
        shown = safe_repr(value)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return shown, peak


def test_describing_a_million_item_set_builds_no_text_of_it() -> None:
    shown, peak = described_with_peak(set(range(1_000_000)))

    assert shown.endswith(f", …+{1_000_000 - DEFAULTS.MAX_ITEMS}}}")
    # Its whole text would take about 7 MB.
    assert peak < 100_000, f"{peak} bytes allocated"


@pytest.mark.parametrize(
    "base", [set, frozenset, list, tuple, collections.deque, array.array]
)
def test_describing_a_container_reads_at_most_max_items_plus_one(base: type) -> None:
    read: list[object] = []

    class Counting(base):  # type: ignore[valid-type,misc]
        def __iter__(self) -> Any:
            for item in super().__iter__():
                read.append(item)
                yield item

    arguments = ("i", range(10_000)) if base is array.array else (range(10_000),)
    shown = safe_repr(Counting(*arguments))

    assert len(read) <= DEFAULTS.MAX_ITEMS + 1
    assert f"…+{10_000 - DEFAULTS.MAX_ITEMS}" in shown


class _NoWholeText:
    """Fails the test if its text is built whole (its repr or str called)."""

    def __repr__(self) -> str:
        raise AssertionError("the whole text was built")

    __str__ = __repr__


@pytest.mark.parametrize(
    ("value", "opening"),
    [
        pytest.param(collections.deque([_NoWholeText()] * 5), "deque([", id="deque"),
        pytest.param({i: i for i in range(10_000)}.keys(), "dict_keys([", id="keys"),
        pytest.param(
            {i: i for i in range(10_000)}.values(), "dict_values([", id="values"
        ),
        pytest.param({i: i for i in range(10_000)}.items(), "dict_items([", id="items"),
        pytest.param(bytearray(50_000_000), "bytearray(b'", id="bytearray"),
        pytest.param(array.array("i", range(10_000)), "array('i', [", id="array"),
    ],
)
def test_describing_a_big_container_of_the_standard_library_is_bounded(
    value: object, opening: str
) -> None:
    shown, peak = described_with_peak(value)

    assert shown.startswith(opening), shown
    assert len(shown) <= DEFAULTS.MAX_VALUE_LENGTH
    assert peak < 100_000, f"{peak} bytes allocated"


def test_an_exception_message_is_built_from_its_arguments_within_bounds() -> None:
    described = describer(DEFAULTS)

    huge = described.error(ValueError(list(range(1_000_000))))
    several = described.error(ValueError("failed", _NoWholeText()))
    key = described.error(KeyError("x" * 10_000))

    assert huge.message.startswith("[0, 1, 2, ")
    assert len(huge.message) <= DEFAULTS.MAX_VALUE_LENGTH
    assert several.message.startswith("('failed', <")
    assert key.message.startswith("'xxx")
    assert len(key.message) <= DEFAULTS.MAX_VALUE_LENGTH


def test_an_exception_about_a_model_instance_does_not_call_its_str(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: Author) -> str:
        raise AssertionError("__str__ was called")

    monkeypatch.setattr(Author, "__str__", refuse)

    error = describer(DEFAULTS).error(ValueError(Author(pk=3)))

    assert str(error) == f"ValueError: <{Author._meta.label} pk=3>"


def test_describing_a_50_mb_safe_string_copies_no_more_than_it_shows() -> None:
    text = SafeString("<p>" + "x" * 50_000_000)
    described = describer(DEFAULTS)

    tracemalloc.start()
    try:
        shown = [
            described.describe(text),
            described.text([text]),
            described.kwargs({"body": text})["body"],
        ]
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 1_000_000, f"{peak} bytes allocated for a 50 MB string"
    assert all(len(str(each)) <= DEFAULTS.MAX_VALUE_LENGTH for each in shown)
    assert all("<p>xxx" in str(each) for each in shown)


@pytest.mark.parametrize(
    "value",
    [HUGE, -HUGE, [HUGE], {"total": HUGE}, (HUGE,)],
    ids=["int", "negative", "in-a-list", "in-a-dict", "in-a-tuple"],
)
def test_an_int_too_long_to_print_is_described_as_a_placeholder(value: object) -> None:
    shown = describer(DEFAULTS).describe(value)

    assert isinstance(shown, str)
    assert f"<int of {HUGE.bit_length()} bits>" in shown


def test_an_int_subclass_too_long_to_print_is_described_as_a_placeholder() -> None:
    class Amount(int):
        pass

    assert safe_repr(Amount(HUGE)) == HUGE_TEXT


def test_a_trace_holding_an_int_too_long_to_print_gives_json_and_text() -> None:
    with capture(record_unreceived=True) as trace:
        value_sent.send(sender=None, value=HUGE)

    data = trace.to_dict()

    assert data["events"][0]["kwargs"] == {"value": HUGE_TEXT}
    assert json.loads(json.dumps(data))["events"][0]["kwargs"] == {"value": HUGE_TEXT}
    assert f"value={HUGE_TEXT}" in render_text(data)


def _raising(error: BaseException) -> object:
    """An object whose __repr__ raises *error*."""

    class Unprintable:
        def __hash__(self) -> int:
            return 1

        def __repr__(self) -> str:
            raise error

    return Unprintable()


class _Recursing:
    def __repr__(self) -> str:
        return f"<{self!r}>"


class _NotText:
    def __repr__(self) -> Any:
        return 42


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


REPR_FAILURES = [
    pytest.param(_raising(error), type(error).__name__, id=type(error).__name__)
    for error in (
        Exception("no"),
        ValueError("no"),
        TypeError("no"),
        AttributeError("no"),
        KeyError("no"),
        IndexError("no"),
        LookupError("no"),
        RuntimeError("no"),
        NotImplementedError("no"),
        RecursionError("no"),
        AssertionError("no"),
        OverflowError("no"),
        ZeroDivisionError("no"),
        MemoryError("no"),
        OSError("no"),
        ImportError("no"),
        StopIteration("no"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "no"),
        _UnprintableError(),
    )
] + [
    pytest.param(_Recursing(), "RecursionError", id="recursing"),
    pytest.param(_NotText(), "TypeError", id="returns-an-int"),
]


@pytest.mark.parametrize(("value", "error"), REPR_FAILURES)
def test_every_exception_a_repr_raises_becomes_a_placeholder(
    value: object, error: str
) -> None:
    described = describer(DEFAULTS)

    shown = [
        described.describe(value),
        described.text([value]),
        described.text({"item": value}),
        described.text({value: "item"}),
        described.kwargs({"value": value})["value"],
        described.sender(value),
    ]

    placeholder = f"(repr failed: {error})>"
    assert all(placeholder in str(each) for each in shown), shown


class _Exiting:
    def __repr__(self) -> str:
        raise SystemExit(3)


def test_a_repr_raising_system_exit_becomes_a_placeholder() -> None:
    # Without tracing the repr is never called: the program must not end.
    assert (
        safe_repr([_Exiting()])
        == "[<tests.test_values._Exiting (repr failed: SystemExit)>]"
    )


def test_a_repr_raising_keyboard_interrupt_lets_it_through() -> None:
    # The user asked the program to stop: describing does not swallow it.
    class Interrupted:
        def __repr__(self) -> str:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        safe_repr(Interrupted())


def test_an_exception_with_an_unprintable_message_is_described_by_its_class() -> None:
    error = describer(DEFAULTS).error(_UnprintableError())

    assert str(error) == "_UnprintableError: <unprintable message>"


@pytest.fixture
def context_repr_refused(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """BaseContext.__repr__ fails the test, and notes each call."""
    built: list[object] = []

    def refuse(self: BaseContext) -> str:
        built.append(self)
        raise AssertionError("BaseContext.__repr__ was called")

    monkeypatch.setattr(BaseContext, "__repr__", refuse)
    return built


def test_a_template_context_is_described_without_building_its_repr(
    context_repr_refused: list[object],
) -> None:
    huge = {"rows": dict.fromkeys(range(1_000_000))}
    context = Context(huge)
    request_context = RequestContext(RequestFactory().get("/"), huge)

    shown = [
        safe_repr(context),
        safe_repr(request_context),
        safe_repr([context]),
        safe_kwargs({"context": request_context})["context"],
    ]

    assert shown == [
        "<Context: 2 levels>",
        f"<RequestContext: {len(request_context.dicts)} levels>",
        "[<Context: 2 levels>]",
        f"<RequestContext: {len(request_context.dicts)} levels>",
    ]
    assert context_repr_refused == []


def test_template_rendered_describes_its_context_without_building_its_repr(
    context_repr_refused: list[object],
) -> None:
    huge = {"rows": dict.fromkeys(range(1_000_000))}

    with capture_signals() as trace:
        Template("{{ rows|length }}").render(Context(huge))

    [event] = trace.filter(template_rendered)
    assert event.kwargs["context"] == "<Context: 2 levels>"
    assert context_repr_refused == []


def test_an_exception_message_of_a_str_subclass_is_its_text() -> None:
    from django.utils.safestring import mark_safe

    from signaltrace.conf import DEFAULTS
    from signaltrace.values import describer

    error = ValueError(mark_safe("<b>stock</b> ran out"))
    assert describer(DEFAULTS).error(error).message == "<b>stock</b> ran out"


class ApiToken(models.Model):  # noqa: DJ008  # described, never shown by its str
    """As django-rest-framework's Token: the primary key is the secret."""

    key = models.CharField(max_length=40, primary_key=True)

    class Meta:
        app_label = "testapp"


def test_a_primary_key_under_a_sensitive_name_is_masked() -> None:
    from signaltrace.conf import DEFAULTS
    from signaltrace.values import describer

    described = describer(DEFAULTS).describe(ApiToken(key="9944b09199c62bcf9418ad84"))

    assert described == f"<testapp.ApiToken pk={DEFAULTS.MASK}>"


def test_an_unsaved_secret_key_shows_as_none() -> None:
    from signaltrace.conf import DEFAULTS
    from signaltrace.values import describer

    assert describer(DEFAULTS).describe(ApiToken()) == "<testapp.ApiToken pk=''>"


def test_a_model_text_is_a_plain_string() -> None:
    from django.contrib.auth.models import Group

    from signaltrace.conf import DEFAULTS
    from signaltrace.values import describer

    described = describer(DEFAULTS).describe(Group(pk=3))

    assert described == "<auth.Group pk=3>"
    assert type(described) is str


class Slugged(models.Model):  # noqa: DJ008  # described, never shown by its str
    slug = models.CharField(max_length=40, primary_key=True)

    class Meta:
        app_label = "testapp"


@pytest.mark.parametrize(
    ("instance", "config", "expected"),
    [
        (Author(pk=3), DEFAULTS, "<testapp.Author pk=3>"),
        (Author(pk=123456), Config(MAX_VALUE_LENGTH=12), "<testapp.Au…"),
        (Slugged(pk="launch"), DEFAULTS, "<testapp.Slugged pk='launch'>"),
        (
            Slugged(pk="4111 1111 1111 1111"),
            DEFAULTS,
            f"<testapp.Slugged pk='{DEFAULTS.MASK}'>",
        ),
    ],
)
def test_a_model_instance_is_described_as_its_text_cut_and_masked(
    instance: models.Model, config: Config, expected: str
) -> None:
    from signaltrace.values import describer

    described = describer(config).describe(instance)

    assert described == expected
    assert type(described) is str


def test_traces_under_one_configuration_share_what_describing_works_out() -> None:
    from signaltrace.values import describer

    config = Config(MAX_ITEMS=7)
    first = describer(config)
    first.kwargs({"password": "hunter2", "count": 3})

    assert describer(Config(MAX_ITEMS=7)) is first
    assert describer(config) is not describer(DEFAULTS)


def test_a_configuration_that_cannot_be_hashed_still_gets_a_describer() -> None:
    from signaltrace.values import describer

    config = Config(EXTRA_RECEIVER_MODULES=["shop.hooks"])  # type: ignore[arg-type]

    assert describer(config).kwargs({"token": "x"}) == {"token": DEFAULTS.MASK}


class ShortByItsOwnAccount(str):
    def __len__(self) -> int:
        return 5


class ReprAsSubclass:
    """An object whose ``__repr__`` gives a ``str`` subclass, as repr() allows."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return (
            SafeString(self.text)
            if "<" in self.text
            else ShortByItsOwnAccount(self.text)
        )


def test_a_repr_that_is_a_str_subclass_is_described_as_plain_text_cut() -> None:
    from signaltrace.values import describer

    describe = describer(DEFAULTS).describe
    safe = describe(ReprAsSubclass("<b>bold</b>"))
    long = describe(ReprAsSubclass("x" * 1000))

    assert (safe, type(safe)) == ("<b>bold</b>", str)
    assert type(long) is str
    assert len(long) == DEFAULTS.MAX_VALUE_LENGTH


class Stop(BaseException):
    pass


class Unreadable(models.Model):  # noqa: DJ008  # described, never shown by its str
    class Meta:
        app_label = "testapp"

    def __getattribute__(self, name: str) -> Any:
        if name == "__dict__":
            raise Stop
        return super().__getattribute__(name)


def test_a_model_instance_that_cannot_be_read_is_described_as_such() -> None:
    from signaltrace.values import describer

    described = describer(DEFAULTS).describe(Unreadable.__new__(Unreadable))

    assert described == "<tests.test_values.Unreadable (repr failed: Stop)>"
