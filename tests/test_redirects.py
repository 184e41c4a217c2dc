"""Redirects followed (signaltrace.redirects): the cookie, what the next page shows.

The units take responses and requests from Django's own classes and traces
from real captures; the last tests follow a redirect through the middleware
with the test client, which keeps cookies as a browser does. What the viewer's
pages and the toolbar panel show of it is in test_views.py and test_panel.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.http import (
    HttpResponse,
    HttpResponseNotModified,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
)
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

import signaltrace
from signaltrace import redirects, request_scope
from signaltrace.history import history
from signaltrace.shown import shown
from signaltrace.waterfall import MAX_INDENT
from tests.app.views import chain_sent, marker_sent, outer_sent
from tests.test_views import rows_in

MIDDLEWARE = "signaltrace.middleware.SignalTraceMiddleware"
KEY = "0123456789abcdef" * 2


@pytest.fixture(autouse=True)
def _clean_state(settings: Any) -> Iterator[None]:
    settings.DEBUG = True
    yield
    request_scope.stop_request_tracing()
    history.clear()


@pytest.fixture
def traced(settings: Any) -> None:
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]


def _trace(*sends: int) -> dict[str, Any]:
    """A captured trace: markers, a nested pair, a chain ``depth`` levels deep."""
    with signaltrace.capture() as trace:
        marker_sent.send(sender=None, marker="saved")
        outer_sent.send(sender=None, level="outer")
        for depth in sends:
            chain_sent.send(sender=None, level=0, depth=depth)
    return trace.to_dict()


def _markers(count: int) -> dict[str, Any]:
    with signaltrace.capture() as trace:
        for number in range(count):
            marker_sent.send(sender=None, marker=str(number))
    return trace.to_dict()


# ------------------------------------------------------------ the cookie


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (HttpResponseRedirect("/next/"), True),
        (HttpResponsePermanentRedirect("/next/"), True),
        (HttpResponse(status=303, headers={"Location": "/next/"}), True),
        (HttpResponse(status=307, headers={"Location": "/next/"}), True),
        (HttpResponseNotModified(), False),  # no Location: nothing to follow
        (HttpResponse(status=300), False),
        (HttpResponse("page"), False),
        (HttpResponse(status=404), False),
    ],
    ids=["302", "301", "303", "307", "304", "300", "200", "404"],
)
def test_a_redirect_is_a_3xx_with_a_location(response: Any, expected: bool) -> None:
    assert redirects.is_redirect(response) is expected


def test_a_redirect_names_its_key_in_a_short_lived_cookie() -> None:
    response = HttpResponseRedirect("/next/")

    redirects.remember(RequestFactory().post("/"), response, cookie="c", key=KEY)

    cookie = response.cookies["c"]
    assert cookie.value == KEY
    assert cookie["max-age"] == redirects.MAX_AGE == 60
    assert (cookie["httponly"], cookie["samesite"]) == (True, "Lax")


def test_a_redirect_without_a_key_sets_no_cookie() -> None:
    response = HttpResponseRedirect("/next/")

    redirects.remember(RequestFactory().post("/"), response, cookie="c", key=None)

    assert "c" not in response.cookies


def test_any_other_response_deletes_the_cookie_the_request_brought() -> None:
    request = RequestFactory().get("/next/")
    request.COOKIES["c"] = KEY
    response = HttpResponse("page")

    redirects.remember(request, response, cookie="c", key=KEY)

    assert response.cookies["c"].value == ""
    assert response.cookies["c"]["max-age"] == 0


def test_a_response_to_a_request_without_the_cookie_leaves_cookies_alone() -> None:
    response = HttpResponse("page")

    redirects.remember(RequestFactory().get("/"), response, cookie="c", key=KEY)

    assert "c" not in response.cookies


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KEY, KEY),
        ("", None),
        ("garbage", None),
        (KEY.upper(), None),
        (KEY[:-1], None),
        (KEY + "0", None),
        (f"{KEY}\n", None),
        ("<script>alert(1)</script>", None),
    ],
    ids=["key", "empty", "garbage", "uppercase", "short", "long", "newline", "markup"],
)
def test_only_a_well_formed_key_is_read_back(value: str, expected: str | None) -> None:
    request = RequestFactory().get("/")
    request.COOKIES["c"] = value

    assert redirects.redirected_from(request, cookie="c") == expected


def test_no_cookie_reads_as_no_redirect() -> None:
    assert redirects.redirected_from(RequestFactory().get("/"), cookie="c") is None


# ------------------------------------------------------ the request before


def test_the_summary_has_a_line_per_send_with_its_receivers() -> None:
    lines = redirects.summary(shown(_trace()))

    assert [
        (line["name"], line["receivers"], line["depth"], line["indent"])
        for line in lines
    ] == [
        ("marker_sent", ["tests.app.views.on_marker"], 0, 0),
        ("outer_sent", ["tests.app.views.on_outer"], 0, 0),
        ("inner_sent", ["tests.app.views.on_inner"], 1, 1),
    ]
    assert lines[0]["signal"] == "tests.app.views.marker_sent"
    assert lines[0]["sender"] == "None"
    assert all(line["errors"] == 0 for line in lines)


def test_deep_lines_are_indented_at_most_max_indent() -> None:
    lines = redirects.summary(shown(_trace(12)))

    chain = [line for line in lines if line["name"] == "chain_sent"]
    assert [line["depth"] for line in chain] == list(range(13))
    assert [line["indent"] for line in chain] == [
        min(depth, MAX_INDENT) for depth in range(13)
    ]


def test_the_context_links_to_the_viewer_page_when_given_one() -> None:
    trace = _trace()

    context = redirects.previous_context(
        trace, method="POST", path="/books/", status=302, url="/__signaltrace__/x/"
    )

    assert context["signal_trace"] is None
    assert context["totals"] == shown(trace).before
    assert (context["method"], context["path"], context["status"]) == (
        "POST",
        "/books/",
        302,
    )
    assert len(context["lines"]) == 3
    assert context["more"] == 0


def test_without_a_page_the_context_includes_the_whole_trace() -> None:
    context = redirects.previous_context(
        _trace(), method="POST", path="/books/", status=302
    )

    rows = rows_in(context["signal_trace"]["rows"])
    assert [row["id"] for row in rows] == [
        "st-previous-0",
        "st-previous-1",
        "st-previous-2",
    ]


def test_the_lines_stop_at_max_lines_and_say_how_many_more() -> None:
    trace = _markers(redirects.MAX_LINES + 20)

    context = redirects.previous_context(
        trace, method="POST", path="/books/", status=302, url="/__signaltrace__/x/"
    )

    assert len(context["lines"]) == redirects.MAX_LINES
    assert context["more"] == 20
    html = render_to_string("signaltrace/_trace_previous.html", {"previous": context})
    assert (
        'and 20 more sends, in <a href="/__signaltrace__/x/">its full trace</a>.'
    ) in html
    assert f"{redirects.MAX_LINES + 20} sends, " in html


def test_the_section_says_where_the_redirect_came_from_as_text() -> None:
    context = redirects.previous_context(
        _trace(), method="POST", path="/<b>books</b>/", status=302
    )

    html = render_to_string("signaltrace/_trace_previous.html", {"previous": context})

    assert (
        "Redirected here from <code>POST /&lt;b&gt;books&lt;/b&gt;/</code> (302): "
        "3 sends, 3 receiver calls</summary>"
    ) in html
    assert '<details class="st-previous-trace">' in html


# ----------------------------------------- through the middleware, as a browser


@pytest.mark.usefixtures("traced")
def test_a_redirect_names_its_trace_and_the_next_request_reads_it(
    client: Client,
) -> None:
    posted = client.post("/post-redirect/")
    trace_id = posted.headers["X-Signaltrace-Id"]

    assert client.cookies[redirects.COOKIE].value == trace_id
    followed = client.get("/hello/")

    entry = history.get(followed.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert entry.redirected_from == trace_id
    assert entry.to_dict()["redirected_from"] == trace_id
    assert followed.cookies[redirects.COOKIE].value == ""  # cleared


@pytest.mark.usefixtures("traced")
def test_a_later_request_is_not_taken_for_the_redirects_target(
    client: Client,
) -> None:
    client.post("/post-redirect/", follow=True)

    later = client.get("/nested/")

    entry = history.get(later.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert entry.redirected_from is None
    # Names nothing (the test client, unlike a browser, sends a deleted cookie
    # back empty: it is deleted again).
    cookie = later.cookies.get(redirects.COOKIE)
    assert cookie is None or cookie.value == ""


@pytest.mark.usefixtures("traced")
def test_a_garbage_cookie_is_ignored_and_cleared(client: Client) -> None:
    client.cookies[redirects.COOKIE] = "garbage"

    response = client.get("/nested/")

    entry = history.get(response.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert entry.redirected_from is None
    assert response.cookies[redirects.COOKIE].value == ""


@pytest.mark.usefixtures("traced")
def test_the_viewers_own_pages_leave_the_cookie_to_the_next_page(
    client: Client,
) -> None:
    client.post("/post-redirect/")

    viewer = client.get("/__signaltrace__/")

    assert redirects.COOKIE not in viewer.cookies
    followed = client.get("/hello/")
    entry = history.get(followed.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert entry.redirected_from is not None


@pytest.mark.usefixtures("traced")
def test_no_cookie_when_debug_is_off(client: Client, settings: Any) -> None:
    settings.DEBUG = False
    settings.SIGNALTRACE = {"ENABLED": True}

    response = client.post("/post-redirect/")

    assert response.status_code == 302
    assert "X-Signaltrace-Id" in response.headers
    assert redirects.COOKIE not in response.cookies
