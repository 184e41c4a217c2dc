"""Values are safe to show: no queries, no lazy evaluation, truncated, masked."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy

from signaltrace.conf import DEFAULTS, Config
from signaltrace.values import format_exception, is_hidden, safe_kwargs, safe_repr
from tests.app.models import Author, Book

MASK = DEFAULTS.MASK


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
