"""The viewer: recent requests and the trace tree, for DEBUG and allowed users only."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import html5lib
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


#: Elements without an end tag.
VOID = frozenset(
    {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}
)


class _Page(HTMLParser):
    """The waterfall's rows of a page, and how its elements nest.

    Each row: its ``id``, ``position`` (``data-st-id``), ``parent``
    (``data-st-parent``), ``indent`` (its ``st-depth-N`` class), the short
    ``name`` of its signal, its ``level`` tag if any, ``list``: the classes of
    the list it is in, and ``rows_around``: how many rows enclose it (0 when
    the rows are flat). ``problems``: every end tag that does not close the
    element open last, and every element never closed; the templates and
    the rows close all of theirs, so that any is a row left open or closed
    twice.
    """

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, list[str]]] = []  # each open element's classes
        self.problems: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.reading: str | None = None  # "name" or "level" of the last row

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "li" and "st-send" in classes:
            parent = attributes["data-st-parent"]
            self.rows.append(
                {
                    "id": attributes["id"],
                    "position": int(attributes["data-st-id"] or ""),
                    "parent": int(parent) if parent else None,
                    "indent": next(
                        int(name.removeprefix("st-depth-"))
                        for name in classes
                        if name.startswith("st-depth-")
                    ),
                    "list": next(
                        (found for name, found in reversed(self.open) if name == "ol"),
                        [],
                    ),
                    "rows_around": sum(
                        1 for name, found in self.open if "st-send" in found
                    ),
                }
            )
        in_row = bool(self.rows) and "name" not in self.rows[-1]
        if tag == "code" and "st-signal" in classes and in_row:
            self.reading = "name"
        elif tag == "span" and "st-level" in classes:
            self.reading = "level"
        if tag not in VOID:
            self.open.append((tag, classes))

    def handle_endtag(self, tag: str) -> None:
        self.reading = None
        if tag in VOID:
            return
        if self.open and self.open[-1][0] == tag:
            self.open.pop()
            return
        line, column = self.getpos()
        last = self.open[-1][0] if self.open else "nothing"
        self.problems.append(f"{line}:{column}: </{tag}> while <{last}> is open")
        names = [name for name, _classes in self.open]
        if tag in names:  # recover: close what was left open inside it
            del self.open[len(names) - 1 - names[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self.reading is not None and self.rows:
            self.rows[-1][self.reading] = data
            self.reading = None

    def close(self) -> None:
        super().close()
        self.problems.extend(f"<{name}> is never closed" for name, _ in self.open)


def read_page(html: str) -> _Page:
    """Parse *html*; each row gets ``enclosing``: how many sends its parents make."""
    page = _Page()
    page.feed(html)
    page.close()
    by_position = {row["position"]: row for row in page.rows}
    for row in page.rows:
        enclosing, parent = 0, row["parent"]
        while parent is not None:
            enclosing += 1
            parent = by_position[parent]["parent"]
        row["enclosing"] = enclosing
    return page


def rows_in(html: str) -> list[dict[str, Any]]:
    """The rows of the sends in *html* (see :class:`_Page`)."""
    return read_page(html).rows


def assert_flat_and_well_formed(html: str) -> list[dict[str, Any]]:
    """Every element of *html* is closed in order, no row is inside another.

    Returns the rows. html5lib (the toolbar's own check) takes seconds per
    megabyte: it checks the smaller pages; this the large ones.
    """
    page = read_page(html)
    assert not page.problems, "Badly nested HTML:\n" + "\n".join(page.problems[:20])
    nested = [row["id"] for row in page.rows if row["rows_around"]]
    assert not nested, f"Rows inside other rows: {nested[:20]}"
    assert all("st-sends" in row["list"] for row in page.rows)
    return page.rows


def depths_in(html: str) -> dict[str, int]:
    """How many sends enclose each send, by its signal's short name."""
    return {row["name"]: row["enclosing"] for row in rows_in(html)}


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
    depths = depths_in(html)
    assert depths["outer_sent"] == 0
    assert depths["inner_sent"] == 1


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
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
        assert all(
            ' src="' in attributes and not body.strip() for attributes, body in scripts
        ), scripts
        assert "<style" not in html
        assert " style=" not in html
        assert not re.search(r"\son[a-z]+=", html)  # no onclick= and such


def test_the_detail_page_loads_the_filter_from_the_viewer(client: Client) -> None:
    _add_entry(_nested_trace())

    html = client.get(f"/__signaltrace__/{'f' * 32}/").content.decode()

    assert '<script type="module" src="/__signaltrace__/filter.js"></script>' in html
    assert 'class="st-filter"' in html


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


def test_filter_script_is_served_by_the_viewer_as_javascript(client: Client) -> None:
    response = client.get("/__signaltrace__/filter.js")

    assert response.status_code == 200
    # A module script of another type is refused by the browser.
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert b"export function applyFilter" in b"".join(response.streaming_content)


def test_filter_script_is_404_for_outsiders(client: Client) -> None:
    assert client.get("/__signaltrace__/filter.js", **OUTSIDER).status_code == 404


def test_stylesheet_is_served_by_the_viewer(client: Client) -> None:
    response = client.get("/__signaltrace__/signaltrace.css")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert b".signaltrace" in b"".join(response.streaming_content)


# ------------------------------------------------------- the shared component


def test_html_context_writes_a_flat_row_per_send_pointing_to_its_parent() -> None:
    context = html_context(_nested_trace().to_dict())

    outer, inner = rows_in(context["rows"])
    assert (outer["name"], outer["parent"], outer["indent"]) == ("outer_sent", None, 0)
    assert (inner["name"], inner["parent"], inner["indent"]) == ("inner_sent", 0, 1)
    assert (outer["id"], inner["id"]) == ("st-send-0", "st-send-1")
    assert (
        ", sent by the receiver <code>tests.app.views.on_outer</code> of "
        '<a href="#st-send-0" class="st-parent-link">outer_sent</a>'
    ) in context["rows"]
    assert context["after_rows"] == ""


def test_html_context_names_rows_after_the_anchors_prefix() -> None:
    context = html_context(_nested_trace().to_dict(), anchors="st-previous")

    assert [row["id"] for row in rows_in(context["rows"])] == [
        "st-previous-0",
        "st-previous-1",
    ]
    assert 'href="#st-previous-0"' in context["rows"]


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

    assert context["rows"].count('<span class="st-duration st-slow">') == 2
    assert "ms slow</span>" in context["rows"]
    assert "st-slow" not in html_context(_nested_trace().to_dict())["rows"]


def test_render_html_works_from_the_trace_dict_alone() -> None:
    html = render_html(_nested_trace().to_dict())

    assert depths_in(html) == {"outer_sent": 0, "inner_sent": 1}


def test_render_html_lists_sends_that_reached_no_receiver() -> None:
    with signaltrace.capture() as trace:
        for _ in range(7):
            unheard.send(sender=None)

    html = render_html(trace.to_dict())

    # The name may break after its dots (<wbr>), nowhere else.
    assert "<code>tests.<wbr>app.<wbr>views.<wbr>unheard</code>" in html
    assert '<td class="st-number">7</td>' in html


# ------------------------------------------------------ after a redirect


def _post_and_follow(client: Client) -> tuple[HistoryEntry, HistoryEntry]:
    """POST the form view, follow its redirect; the entries of both requests."""
    response = client.post("/post-redirect/", {"marker": "saved"}, follow=True)
    assert response.redirect_chain == [("/hello/", 302)]
    following, redirecting = history.entries()[:2]
    return redirecting, following


def _previous_section(html: str) -> str:
    start = html.index('<details class="st-previous"')
    return html[start : html.index("</details>", start)]


@pytest.mark.usefixtures("traced")
def test_the_page_after_a_redirect_shows_the_sends_of_the_request_before(
    client: Client,
) -> None:
    redirecting, following = _post_and_follow(client)

    html = client.get(f"/__signaltrace__/{following.id}/").content.decode()

    previous = _previous_section(html)
    assert (
        f"Redirected here from <code>POST /post-redirect/</code> (302): "
        f"{redirecting.sends} sends, {redirecting.receiver_calls} receiver calls"
        f' · <a href="/__signaltrace__/{redirecting.id}/">its full trace</a>'
    ) in previous
    lines = re.findall(
        r'<li class="st-depth-(\d)" data-st-search="[^"]*">(.*?)</li>', previous
    )
    text = [(int(indent), re.sub(r"<[^>]+>", "", line)) for indent, line in lines]
    assert (0, "marker_sent None → tests.app.views.on_marker") in text
    assert (0, "outer_sent None → tests.app.views.on_outer") in text
    assert (1, "inner_sent None → tests.app.views.on_inner") in text
    assert len(lines) == redirecting.sends
    # Linked, not included: the page's own rows are the only ones.
    assert "st-previous-trace" not in html
    assert {row["name"] for row in rows_in(html)} == {
        "request_started",
        "request_finished",
    }


@pytest.mark.usefixtures("traced")
def test_the_redirecting_request_links_to_the_page_it_led_to(client: Client) -> None:
    redirecting, following = _post_and_follow(client)

    html = client.get(f"/__signaltrace__/{redirecting.id}/").content.decode()

    assert (
        f'redirected to <a href="/__signaltrace__/{following.id}/">GET /hello/</a>'
    ) in html
    assert 'class="st-previous"' not in html


@pytest.mark.usefixtures("traced")
def test_the_list_marks_requests_that_followed_a_redirect(client: Client) -> None:
    redirecting, following = _post_and_follow(client)

    html = client.get("/__signaltrace__/").content.decode()

    rows = {
        trace_id: row
        for row in re.findall(r"<tr>.*?</tr>", html, re.S)
        for trace_id in re.findall(r'href="/__signaltrace__/([0-9a-f]{32})/"', row)
    }
    assert ">after a redirect</span>" in rows[following.id]
    assert "after a redirect" not in rows[redirecting.id]


@pytest.mark.usefixtures("traced")
def test_a_request_after_the_redirect_target_is_not_taken_for_one(
    client: Client,
) -> None:
    _post_and_follow(client)

    client.get("/nested/")

    [later] = history.entries()[:1]
    assert later.redirected_from is None
    html = client.get(f"/__signaltrace__/{later.id}/").content.decode()
    assert "Redirected here" not in html


@pytest.mark.usefixtures("traced")
def test_a_redirect_whose_trace_left_the_history_is_still_told(
    client: Client,
) -> None:
    _redirecting, following = _post_and_follow(client)
    history.clear()
    history.add(following)

    html = client.get(f"/__signaltrace__/{following.id}/").content.decode()

    assert "Redirected here by a request whose trace has left the history." in html
    assert 'class="st-previous"' not in html


# ---------------------------------------------------------- any size, any depth


@pytest.mark.usefixtures("traced")
def test_a_chain_150_sends_deep_renders_as_flat_rows(client: Client) -> None:
    response = client.get("/chain/150/")

    html = client.get(response.headers["X-Signaltrace-Url"]).content.decode()
    parser = html5lib.HTMLParser()
    parser.parse(html)
    assert not parser.errors
    rows = [
        row for row in assert_flat_and_well_formed(html) if row["name"] == "chain_sent"
    ]
    assert [row["enclosing"] for row in rows] == list(range(151))
    assert [row["indent"] for row in rows] == [min(level, 8) for level in range(151)]
    assert all(
        row["parent"] == above["position"] for above, row in itertools.pairwise(rows)
    )
    assert [row.get("level") for row in rows[:9]] == [None] * 9
    assert [row.get("level") for row in rows[9:]] == [
        f"level {level}" for level in range(9, 151)
    ]


@pytest.mark.usefixtures("traced")
def test_ten_thousand_sends_render_in_the_viewer(client: Client, settings: Any) -> None:
    settings.SIGNALTRACE = {"MAX_EVENTS": 20_000}
    response = client.get("/haystack/", {"sends": 10_000})
    entry = history.get(response.headers["X-Signaltrace-Id"])
    assert entry is not None

    html = client.get(response.headers["X-Signaltrace-Url"]).content.decode()

    rows = assert_flat_and_well_formed(html)
    assert [row["position"] for row in rows] == list(range(len(rows)))
    assert [row["id"] for row in rows] == [f"st-send-{row}" for row in range(len(rows))]
    markers = [row for row in rows if row["name"] == "marker_sent"]
    assert len(markers) == 10_000
    batch = next(row for row in rows if row["name"] == "batch_sent")
    assert {row["parent"] for row in markers} == {batch["position"]}
    assert rows[-2]["name"] == "needle_sent"  # then request_finished
    assert f"<span>{entry.sends} sends</span>" in html
    assert entry.sends == len(rows) - 1  # request_finished is counted apart


# --------------------------------------------------------------- the history


@pytest.mark.usefixtures("traced")
@pytest.mark.parametrize(
    "path", ["/favicon.ico", "/apple-touch-icon-precomposed.png", "/robots.txt"]
)
def test_what_browsers_ask_for_on_their_own_is_not_kept(
    client: Client, path: str
) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert "X-Signaltrace-Id" not in response.headers
    assert history.entries() == []
    assert path not in client.get("/__signaltrace__/").content.decode()


@pytest.mark.usefixtures("traced")
def test_a_404_of_the_project_is_kept(client: Client) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    [entry] = history.entries()
    assert (entry.id, entry.path, entry.status) == (
        response.headers["X-Signaltrace-Id"],
        "/no-such-page/",
        404,
    )
