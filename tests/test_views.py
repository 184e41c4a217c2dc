"""The viewer: recent requests and the trace tree, for DEBUG and allowed users only."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from django.http import HttpRequest
from django.test import Client

import signaltrace
from signaltrace import request_scope
from signaltrace.assertions import SignalTrace
from signaltrace.history import HistoryEntry, history
from signaltrace.waterfall import html_context, render_html
from tests.app.views import marker_sent, outer_sent, unheard

MIDDLEWARE = "signaltrace.middleware.SignalTraceMiddleware"
OUTSIDER = {"REMOTE_ADDR": "203.0.113.9"}  # not in INTERNAL_IPS
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _clean_state(settings: Any) -> Iterator[None]:
    settings.DEBUG = True
    yield
    request_scope.stop_request_tracing()
    history.clear()


@pytest.fixture
def traced(settings: Any) -> None:
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]


def allow_nobody(request: HttpRequest) -> bool:
    """A SHOW_VIEWER check for the tests."""
    return False


def _nested_trace() -> SignalTrace:
    with signaltrace.capture() as trace:
        outer_sent.send(sender=None, level="outer")
    return trace


def _add_entry(
    trace: SignalTrace, *, path: str = "/books/", status: int = 200
) -> HistoryEntry:
    entry = HistoryEntry(
        trace, trace_id="f" * 32, method="POST", path=path, status=status
    )
    history.add(entry)
    return entry


class _SendNesting(HTMLParser):
    """Records, for each send's signal name, how many sends enclose it."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # per open <li>: is it a send?
        self.in_signal = False
        self.depths: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "li":
            self.stack.append("st-send" in classes)
        self.in_signal = tag == "code" and "st-signal" in classes

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self.stack.pop()
        self.in_signal = False

    def handle_data(self, data: str) -> None:
        if self.in_signal:
            self.depths[data] = sum(self.stack) - 1


# ---------------------------------------------------------------- the list


@pytest.mark.usefixtures("traced")
def test_list_shows_each_recent_request(client: Client) -> None:
    response = client.get("/nested/")
    trace_id = response.headers["X-Signaltrace-Id"]

    page = client.get("/__signaltrace__/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "/nested/" in html
    assert f'href="/__signaltrace__/{trace_id}/"' in html
    entry = history.get(trace_id)
    assert entry is not None
    assert f'<td class="st-number">{entry.sends}</td>' in html


def test_list_explains_how_to_turn_tracing_on(client: Client) -> None:
    page = client.get("/__signaltrace__/")

    assert "signaltrace.middleware.SignalTraceMiddleware" in page.content.decode()


@pytest.mark.usefixtures("traced")
def test_list_waits_for_a_first_request(client: Client) -> None:
    client.get("/__signaltrace__/")  # starts request tracing, not recorded

    page = client.get("/__signaltrace__/")

    assert "No request traced yet" in page.content.decode()


# -------------------------------------------------------------- the detail


@pytest.mark.usefixtures("traced")
def test_detail_shows_the_full_tree_of_a_request(client: Client) -> None:
    response = client.get("/nested/")

    page = client.get(response.headers["X-Signaltrace-Url"])

    assert page.status_code == 200
    html = page.content.decode()
    for text in (
        "tests.app.views.outer_sent",
        "tests.app.views.on_outer",
        "tests.app.views.on_inner",
        "django.core.signals.request_finished",
        "level",
        "outer",
        "tests/app/views.py",
    ):
        assert text in html, text
    nesting = _SendNesting()
    nesting.feed(html)
    assert nesting.depths["outer_sent"] == 0
    assert nesting.depths["inner_sent"] == 1


def test_detail_of_an_unknown_trace_is_404(client: Client) -> None:
    assert client.get(f"/__signaltrace__/{'0' * 32}/").status_code == 404


def test_detail_shows_receiver_errors(client: Client) -> None:
    def broken(sender: object, **kwargs: object) -> None:
        raise ValueError("receiver broke")

    marker_sent.connect(broken)
    try:
        with signaltrace.capture() as trace:
            marker_sent.send_robust(sender=None, marker="x")
    finally:
        marker_sent.disconnect(broken)
    _add_entry(trace)

    html = client.get(f"/__signaltrace__/{'f' * 32}/").content.decode()

    assert "Raised ValueError: receiver broke" in html


# ------------------------------------------------------------------ escaping


def test_kwargs_holding_html_show_as_text(client: Client) -> None:
    with signaltrace.capture() as trace:
        marker_sent.send(sender=None, marker=SCRIPT)
    _add_entry(trace)

    html = client.get(f"/__signaltrace__/{'f' * 32}/").content.decode()

    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_paths_holding_html_show_as_text(client: Client) -> None:
    _add_entry(_nested_trace(), path=f"/{SCRIPT}/")

    for url in ("/__signaltrace__/", f"/__signaltrace__/{'f' * 32}/"):
        html = client.get(url).content.decode()
        assert SCRIPT not in html
        assert "&lt;script&gt;" in html


def test_pages_have_no_inline_script_or_style(client: Client) -> None:
    _add_entry(_nested_trace())

    for url in ("/__signaltrace__/", f"/__signaltrace__/{'f' * 32}/"):
        html = client.get(url).content.decode()
        assert "<script" not in html
        assert "<style" not in html
        assert " style=" not in html


# ------------------------------------------------------------------- access


def test_internal_ips_may_view(client: Client) -> None:
    assert client.get("/__signaltrace__/", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_anonymous_outsiders_get_404(client: Client) -> None:
    _add_entry(_nested_trace())

    for url in (
        "/__signaltrace__/",
        f"/__signaltrace__/{'f' * 32}/",
        "/__signaltrace__/signaltrace.css",
    ):
        assert client.get(url, **OUTSIDER).status_code == 404, url


@pytest.mark.django_db
def test_non_staff_users_outside_internal_ips_get_404(
    client: Client, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("reader", password="pw")
    client.force_login(user)

    assert client.get("/__signaltrace__/", **OUTSIDER).status_code == 404


@pytest.mark.django_db
def test_staff_may_view_from_anywhere(admin_client: Client) -> None:
    assert admin_client.get("/__signaltrace__/", **OUTSIDER).status_code == 200


@pytest.mark.django_db
def test_nobody_may_view_when_debug_is_off(admin_client: Client, settings: Any) -> None:
    settings.DEBUG = False

    assert admin_client.get("/__signaltrace__/").status_code == 404


def test_show_viewer_setting_takes_a_dotted_path(client: Client, settings: Any) -> None:
    settings.SIGNALTRACE = {"SHOW_VIEWER": f"{__name__}.allow_nobody"}

    assert client.get("/__signaltrace__/").status_code == 404


def test_show_viewer_setting_takes_a_callable(client: Client, settings: Any) -> None:
    settings.SIGNALTRACE = {"SHOW_VIEWER": lambda request: True}

    assert client.get("/__signaltrace__/", **OUTSIDER).status_code == 200


def test_stylesheet_is_served_by_the_viewer(client: Client) -> None:
    response = client.get("/__signaltrace__/signaltrace.css")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert b".signaltrace" in b"".join(response.streaming_content)


# ------------------------------------------------------- the shared component


def test_html_context_nests_sends_under_the_receiver_that_made_them() -> None:
    context = html_context(_nested_trace().to_dict())

    [outer] = context["sends"]
    [receiver] = outer["receivers"]
    [inner] = receiver["children"]
    assert outer["name"] == "outer_sent"
    assert receiver["call"]["name"] == "tests.app.views.on_outer"
    assert inner["name"] == "inner_sent"
    assert inner["receivers"][0]["children"] == []


def test_html_context_sums_up_the_trace() -> None:
    trace = _nested_trace().to_dict()

    summary = html_context(trace)["summary"]

    assert summary == {
        "sends": 2,
        "receiver_calls": 2,
        "errors": 0,
        "signal_ms": trace["duration_ms"],
        "elapsed_ms": trace["elapsed_ms"],
    }


def test_html_context_flags_slow_receivers() -> None:
    context = html_context(_nested_trace().to_dict(), slow_ms=0)

    assert context["sends"][0]["receivers"][0]["slow"] is True


def test_render_html_works_from_the_trace_dict_alone() -> None:
    html = render_html(_nested_trace().to_dict())

    nesting = _SendNesting()
    nesting.feed(html)
    assert nesting.depths == {"outer_sent": 0, "inner_sent": 1}


def test_render_html_lists_sends_that_reached_no_receiver() -> None:
    with signaltrace.capture() as trace:
        for _ in range(7):
            unheard.send(sender=None)

    html = render_html(trace.to_dict())

    assert "tests.app.views.unheard" in html
    assert '<td class="st-number">7</td>' in html
