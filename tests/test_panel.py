"""The django-debug-toolbar panel, tested as the toolbar tests its own panels.

A request goes through the toolbar's middleware; its panel is then loaded back
from the toolbar's store, as the browser loads it when the panel is opened,
and its content is checked, valid HTML included. Every store class, with
``RENDER_PANELS`` on and off, the History panel's read-back and ASGI, on
each django-debug-toolbar line as far as it has them (:mod:`tests.toolbar_compat`
tells the lines apart).

This module is also the URLconf of its tests: the toolbar's URLs, the views
of ``tests.urls`` and a few views of its own.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import html5lib
import pytest
from debug_toolbar.toolbar import DebugToolbar
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_save
from django.dispatch import Signal, receiver
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.urls import include, path

from signaltrace import install, request_scope
from signaltrace.history import history
from signaltrace.panels import REDIRECT_COOKIE, SignalTracePanel
from tests import toolbar_compat as compat
from tests import urls as test_urls
from tests.app.views import marker_sent, unheard
from tests.test_views import assert_flat_and_well_formed, rows_in

pytestmark = pytest.mark.django_db

PANEL = "SignalTracePanel"
PANELS = [
    "debug_toolbar.panels.history.HistoryPanel",
    "debug_toolbar.panels.timer.TimerPanel",
    "debug_toolbar.panels.signals.SignalsPanel",
    "signaltrace.panels.SignalTracePanel",
]
STORES = compat.STORES
#: Panels loaded when opened, and rendered into the page.
RENDER_PANELS = [
    pytest.param(False, id="lazy"),
    pytest.param(True, id="rendered", marks=compat.keeps_rendered_requests),
]
SCRIPT = "<script>window.__xss = 1</script>"
REQUEST_STARTED = 'title="django.core.signals.request_started"'
REQUEST_FINISHED_SIGNAL = "django.core.signals.request_finished"
REQUEST_FINISHED = f'title="{REQUEST_FINISHED_SIGNAL}"'
#: The nav subtitle without errors; a number and its word never part.
SUBTITLE = r"\d+\xa0sends · \d+\xa0receiver\xa0calls · [\d.]+\xa0ms"

# ----------------------------------------------------------- views and URLs

#: Sent with send_robust by the page; its receiver always fails.
audited = Signal()


class AuditDown(Exception):
    """What the audit receiver raises."""


@receiver(audited)
def audit(sender: object, **kwargs: object) -> None:
    raise AuditDown("the audit log is down")


def page(request: HttpRequest) -> HttpResponse:
    """An HTML page that sends a marker (from ?marker=), a failing audit, noise."""
    marker_sent.send(sender=None, marker=request.GET.get("marker", "page"))
    audited.send_robust(sender=None)
    for _ in range(3):
        unheard.send(sender=None)
    return HttpResponse("<!DOCTYPE html><html><body><p>page</p></body></html>")


urlpatterns = [
    path("__debug__/", include("debug_toolbar.urls")),
    path("page/", page),
    *test_urls.urlpatterns,
]

# ----------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def toolbar_settings(settings: Any) -> Iterator[Any]:
    """DEBUG on, this module's URLs, the toolbar's middleware and our panel."""
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [
        "debug_toolbar.middleware.DebugToolbarMiddleware",
        *settings.MIDDLEWARE,
    ]
    settings.DEBUG_TOOLBAR_PANELS = PANELS
    use_store(settings, compat.MEMORY_STORE)
    yield settings
    request_scope.stop_request_tracing()
    history.clear()
    compat.clear_store()


@pytest.fixture
def ready() -> None:
    """What the toolbar's app does at start-up for each of its panels."""
    SignalTracePanel.ready()


@pytest.fixture
def toolbars() -> Iterator[list[DebugToolbar]]:
    """The toolbars the middleware creates, in order (the toolbar's test hook)."""
    created: list[DebugToolbar] = []

    def collect(sender: object, toolbar: DebugToolbar, **kwargs: object) -> None:
        created.append(toolbar)

    DebugToolbar._created.connect(collect)
    yield created
    DebugToolbar._created.disconnect(collect)


def use_store(
    settings: Any, store: str, *, render_panels: bool = False, **config: Any
) -> None:
    """The toolbar's configuration: a store, panels loaded when opened or not.

    ``RENDER_PANELS`` is always given: before 6 the toolbar's default follows
    ``wsgi.multiprocess``, which Django's test client sets.
    """
    settings.DEBUG_TOOLBAR_CONFIG = {
        "TOOLBAR_STORE_CLASS": store,
        "RENDER_PANELS": render_panels,
        **config,
    }


def stored_panel(toolbar: DebugToolbar) -> SignalTracePanel:
    """The panel as the toolbar loads it when it is opened: from the store."""
    panel: SignalTracePanel = compat.stored_panel(compat.request_id(toolbar), PANEL)
    return panel


def stored_stats(toolbar: DebugToolbar) -> dict[str, Any]:
    """What the panel stored for the request, as the store gives it back."""
    return compat.stored_stats(compat.request_id(toolbar), PANEL)


def assert_valid_html(content: str) -> None:
    """The toolbar's own check of panel content."""
    parser = html5lib.HTMLParser()
    parser.parseFragment(content)
    errors = [
        html5lib.constants.E[code] % data for _position, code, data in parser.errors
    ]
    assert not errors, "Content is invalid HTML:\n" + "\n".join(errors)


class _Sends(HTMLParser):
    """Each send's short signal name, depth, parent and its bar's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.in_signal = False
        self.sends: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "li" and "st-send" in classes:
            depth = next(int(c[9:]) for c in classes if c.startswith("st-depth-"))
            parent = attributes["data-st-parent"]
            self.sends.append(
                {"depth": depth, "parent": int(parent) if parent else None}
            )
        if tag == "rect" and self.sends and "x" not in self.sends[-1]:
            self.sends[-1]["x"] = float(attributes["x"] or 0)
            self.sends[-1]["width"] = float(attributes["width"] or 0)
        self.in_signal = tag == "code" and "st-signal" in classes

    def handle_endtag(self, tag: str) -> None:
        self.in_signal = False

    def handle_data(self, data: str) -> None:
        if self.in_signal and "name" not in self.sends[-1]:
            self.sends[-1]["name"] = data


def sends_in(content: str) -> list[dict[str, Any]]:
    parser = _Sends()
    parser.feed(content)
    return parser.sends


def signals_of(stats: dict[str, Any]) -> list[str]:
    """The signals of the sends a panel's stored stats hold, in order."""
    return [event["signal"] for event in stats["trace"]["events"]]


# ----------------------------------------------------------- what it shows


@pytest.mark.usefixtures("ready")
@pytest.mark.parametrize("render_panels", RENDER_PANELS)
@pytest.mark.parametrize("store", STORES, ids=lambda path: path.rpartition(".")[2])
def test_stored_panel_shows_the_whole_request(
    client: Client,
    settings: Any,
    toolbars: list[DebugToolbar],
    store: str,
    render_panels: bool,
) -> None:
    use_store(settings, store, render_panels=render_panels)

    client.get("/page/")

    content = stored_panel(toolbars[-1]).content
    assert_valid_html(content)
    names = [send["name"] for send in sends_in(content) if send["depth"] == 0]
    assert names[0] == "request_started"
    assert names[-1] == "request_finished"
    assert {"marker_sent", "audited"} <= {send["name"] for send in sends_in(content)}


@pytest.mark.usefixtures("ready")
def test_stats_are_json_safe_and_survive_the_store(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    stored = stored_stats(toolbars[-1])
    assert json.loads(json.dumps(stored)) == stored
    assert stored["complete"] is True
    assert stored["trace"]["events"][-1]["signal"] == (
        "django.core.signals.request_finished"
    )


@pytest.mark.usefixtures("ready")
def test_nav_subtitle_sums_up_sends_receivers_time_and_errors(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    subtitle = stored_panel(toolbars[-1]).nav_subtitle
    assert re.fullmatch(SUBTITLE + " · 1\xa0error", subtitle), subtitle


def test_nav_subtitle_uses_the_singular_and_leaves_out_no_errors() -> None:
    toolbar = DebugToolbar(RequestFactory().get("/"), lambda request: HttpResponse())
    panel = toolbar.get_panel_by_id(PANEL)
    toolbar.stats[PANEL] = {
        "sends": 1,
        "receiver_calls": 1,
        "errors": 0,
        "signal_ms": 0.25,
    }

    assert panel.nav_subtitle == "1\xa0send · 1\xa0receiver\xa0call · 0.25\xa0ms"


@pytest.mark.usefixtures("ready")
def test_the_toolbar_in_the_page_shows_the_subtitle(client: Client) -> None:
    response = client.get("/page/")

    html = response.content.decode()
    assert 'id="djdt-SignalTracePanel"' in html
    assert re.search(f"<small>{SUBTITLE} · 1\xa0error</small>", html)


@pytest.mark.usefixtures("ready")
def test_panels_rendered_into_the_page_say_request_finished_is_missing(
    client: Client, settings: Any
) -> None:
    use_store(settings, compat.MEMORY_STORE, render_panels=True)

    html = client.get("/page/").content.decode()

    assert "st-incomplete" in html
    assert REQUEST_STARTED in html
    assert REQUEST_FINISHED not in html


@pytest.mark.usefixtures("ready")
def test_lazily_loaded_panel_does_not_say_anything_is_missing(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    assert "st-incomplete" not in stored_panel(toolbars[-1]).content


@pytest.mark.usefixtures("ready")
def test_waterfall_indents_sends_under_the_send_that_made_them(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/nested/")

    depths = {
        send["name"]: send["depth"]
        for send in sends_in(stored_panel(toolbars[-1]).content)
        if send["name"].startswith(("request_", "outer_", "inner_"))
    }
    assert depths == {
        "request_started": 0,
        "outer_sent": 0,
        "inner_sent": 1,
        "request_finished": 0,
    }


@pytest.mark.usefixtures("ready")
def test_bars_lie_on_the_request_timeline_in_start_order(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    sends = sends_in(stored_panel(toolbars[-1]).content)
    starts = [send["x"] for send in sends]
    assert starts == sorted(starts)
    assert sends[0]["name"] == "request_started"  # it opens the trace
    assert starts[-1] > starts[1]  # request_finished closes it
    assert all(send["x"] >= 0 and send["x"] + send["width"] <= 100 for send in sends)
    assert all(send["width"] > 0 for send in sends)


@pytest.mark.usefixtures("ready")
def test_details_show_kwargs_receivers_and_their_outcome(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/?marker=blue")

    content = stored_panel(toolbars[-1]).content
    for text in (
        "<dt>marker</dt><dd><code>blue</code></dd>",
        "tests.app.views.on_marker",
        "Returned <code>blue</code>",
        "tests/app/views.py:",
        "send_robust",
    ):
        assert text in content, text


@pytest.mark.usefixtures("ready")
def test_errors_send_robust_swallowed_are_highlighted(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    content = stored_panel(toolbars[-1]).content
    assert "Raised AuditDown: the audit log is down (caught by send_robust)" in content
    [row] = re.findall(r'<li class="st-send [^"]*\bst-failed\b[^>]*>', content)
    assert "audited" in row
    assert '<span class="st-tag st-error">1 error</span>' in content


@pytest.mark.usefixtures("ready")
def test_summary_groups_sends_by_signal_and_sender_with_the_counted_ones(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    content = stored_panel(toolbars[-1]).content
    # Long dotted names may break after their dots (<wbr>), nowhere else.
    groups = content[content.index('class="st-groups"') :].replace("<wbr>", "")
    row = re.search(r"<code>tests\.app\.views\.unheard</code>.*?</tr>", groups, re.S)
    assert row is not None
    cells = re.findall(r'<td class="st-number[^"]*">([^<]*)</td>', row.group())
    assert cells == ["3"]  # three sends, only counted


@pytest.mark.usefixtures("ready")
def test_stack_shows_where_the_send_came_from_without_hidden_modules(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    stored = stored_stats(toolbars[-1])
    marker = next(
        event
        for event in stored["trace"]["events"]
        if event["signal"] == "tests.app.views.marker_sent"
    )
    frames = marker["stack"]
    assert frames[-1]["function"] == "page"
    assert frames[-1]["file"] == __file__
    assert "marker_sent.send" in frames[-1]["code"]
    modules = {frame["module"] for frame in frames}
    assert not any(
        module.startswith(("debug_toolbar", "django.core.handlers", "signaltrace"))
        for module in modules
    )
    content = stored_panel(toolbars[-1]).content
    assert '<span class="djdt-func">page</span>' in content


@pytest.mark.usefixtures("ready")
def test_the_outer_frames_every_stack_shares_are_shown_once(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    content = stored_panel(toolbars[-1]).content
    shared = re.findall(r"The outer (\d+) frames? of every send's stack", content)
    assert len(shared) == 1, shared
    # Each send's stack shows its own frames, its sender's line last.
    stacks = content.count('<details class="st-stack">')
    assert stacks > 1
    assert content.count(f"the outer {shared[0]} shared by every send") == stacks
    assert '<span class="djdt-func">page</span>' in content


@pytest.mark.usefixtures("ready")
def test_no_stacks_when_the_toolbar_turns_stack_traces_off(
    client: Client, settings: Any, toolbars: list[DebugToolbar]
) -> None:
    use_store(settings, compat.MEMORY_STORE, ENABLE_STACKTRACES=False)

    client.get("/page/")

    stored = stored_stats(toolbars[-1])
    assert all(event["stack"] is None for event in stored["trace"]["events"])


@pytest.mark.usefixtures("ready")
def test_sends_the_toolbar_makes_for_its_own_panels_are_stored_but_not_shown(
    client: Client,
) -> None:
    client.get("/page/")  # its toolbar renders templates: template_rendered

    [request_id] = compat.stored_request_ids()  # one request
    stored = compat.stored_stats(request_id, PANEL)
    trace = stored["trace"]
    sends = [event["signal"] for event in trace["events"]]
    sends += [
        count["signal"] for count in trace["counts"] for _ in range(count["count"])
    ]
    # Stored as recorded; the toolbar's announcement named as its class holds it.
    toolbar_sends = [
        signal
        for signal in sends
        if signal
        in (
            "django.test.signals.template_rendered",
            "debug_toolbar.toolbar.DebugToolbar._created",
        )
    ]
    assert {signal.rpartition(".")[2] for signal in toolbar_sends} == {
        "template_rendered",
        "_created",
    }
    assert not any(signal.startswith("<unnamed") for signal in sends)
    content = compat.stored_panel(request_id, PANEL).content
    shown = {send["name"] for send in sends_in(content)}
    assert not {"template_rendered", "_created"} & shown
    assert "DebugToolbar" not in content[content.index('class="st-groups"') :]
    assert (
        f"Not shown: {len(toolbar_sends)} sends that feed django-debug-toolbar itself"
        in content
    )


# ------------------------------------------------------------------ safety


@pytest.mark.usefixtures("ready")
@pytest.mark.parametrize("render_panels", [False, True], ids=["lazy", "rendered"])
def test_kwargs_holding_html_show_as_text_in_the_page(
    client: Client, settings: Any, render_panels: bool
) -> None:
    use_store(settings, compat.MEMORY_STORE, render_panels=render_panels)

    html = client.get("/page/", {"marker": SCRIPT}).content.decode()

    assert SCRIPT not in html
    if render_panels:  # the panel's content is in the page
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html


@pytest.mark.usefixtures("ready")
@pytest.mark.parametrize("render_panels", RENDER_PANELS)
def test_kwargs_holding_html_show_as_text_in_the_stored_panel(
    client: Client, settings: Any, toolbars: list[DebugToolbar], render_panels: bool
) -> None:
    use_store(settings, compat.MEMORY_STORE, render_panels=render_panels)

    client.get("/page/", {"marker": SCRIPT})

    content = stored_panel(toolbars[-1]).content
    assert SCRIPT not in content
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in content


@pytest.mark.usefixtures("ready")
def test_content_has_no_inline_script_or_style(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    content = stored_panel(toolbars[-1]).content
    assert "<script" not in content
    assert "<style" not in content
    assert " style=" not in content
    assert '<link rel="stylesheet" href="/static/signaltrace/panel.css">' in content


def test_scripts_are_the_static_filter_module() -> None:
    toolbar = DebugToolbar(RequestFactory().get("/"), lambda request: HttpResponse())

    assert toolbar.get_panel_by_id(PANEL).scripts == ["/static/signaltrace/panel.js"]


# ------------------------------------------------- how the toolbar uses it


@pytest.mark.usefixtures("ready")
def test_history_panel_reads_back_the_finished_trace(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")
    request_id = compat.request_id(toolbars[-1])
    client.get("/hello/")  # the History panel then switches back to /page/

    sidebar = compat.history_sidebar(client, request_id)
    rendered = compat.render_panel(client, request_id, PANEL)

    stored = compat.stored_stats(request_id, PANEL)
    assert f"<small>{stored['sends']}\xa0sends · " in sidebar[PANEL]["button"]
    assert REQUEST_FINISHED in rendered["content"]
    assert rendered["scripts"] == ["/static/signaltrace/panel.js"]


@pytest.mark.usefixtures("ready")
@pytest.mark.parametrize("with_middleware", [False, True], ids=["alone", "middleware"])
def test_panel_and_middleware_each_get_the_finished_trace(
    client: Client, settings: Any, toolbars: list[DebugToolbar], with_middleware: bool
) -> None:
    if with_middleware:
        settings.MIDDLEWARE = [
            "signaltrace.middleware.SignalTraceMiddleware",
            *settings.MIDDLEWARE,
        ]

    response = client.get("/page/")

    assert REQUEST_FINISHED in stored_panel(toolbars[-1]).content
    assert ("X-Signaltrace-Id" in response.headers) is with_middleware
    assert len(history.entries()) == (1 if with_middleware else 0)


@pytest.mark.parametrize(
    "store", [store for store in STORES if store != compat.DATABASE_STORE]
)
@pytest.mark.usefixtures("ready")
def test_panel_works_under_asgi(
    settings: Any, toolbars: list[DebugToolbar], store: str
) -> None:
    use_store(settings, store)

    async def get() -> HttpResponse:
        response: HttpResponse = await AsyncClient().get("/async-marker/asgi/")
        return response

    asyncio.run(get())

    panel = stored_panel(toolbars[-1])
    names = [send["name"] for send in sends_in(panel.content)]
    assert names[0] == "request_started"
    assert names.count("marker_sent") == 3
    assert names[-1] == "request_finished"
    assert re.fullmatch(SUBTITLE, panel.nav_subtitle)


def test_without_request_tracing_the_panel_records_the_middle_of_the_request(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")  # SignalTracePanel.ready() never ran

    stored = stored_stats(toolbars[-1])
    names = [event["signal"].rpartition(".")[2] for event in stored["trace"]["events"]]
    assert "marker_sent" in names
    assert "request_started" not in names
    assert stored["complete"] is True
    assert not install.is_installed()


def test_ready_leaves_request_tracing_off_when_signaltrace_is_disabled(
    settings: Any,
) -> None:
    settings.SIGNALTRACE = {"ENABLED": False}

    SignalTracePanel.ready()

    assert not request_scope.is_request_tracing()


@pytest.mark.usefixtures("without_connection_closing")
def test_panel_built_by_hand_stores_the_trace_again_when_the_request_finishes() -> None:
    """The toolbar's own test style: build it, instrument, process, generate."""
    SignalTracePanel.ready()
    request = RequestFactory().get("/")
    request_started.send(sender=None, environ=request.environ)

    def view(request: HttpRequest) -> HttpResponse:
        marker_sent.send(sender=None, marker="by hand")
        return HttpResponse("<html><body></body></html>")

    toolbar = DebugToolbar(request, view)
    panel = toolbar.get_panel_by_id(PANEL)
    panel.enable_instrumentation()
    response = panel.process_request(request)
    panel.disable_instrumentation()
    panel.generate_stats(request, response)
    compat.store(toolbar)  # as the middleware's render_toolbar() does
    before = stored_stats(toolbar)
    request_finished.send(sender=None)
    after = stored_stats(toolbar)

    # Stored whole at generate_stats, and again, finished, at request_finished;
    # both count the sends before the response, as the sidebar did.
    assert (before["sends"], before["complete"]) == (2, False)
    assert REQUEST_FINISHED_SIGNAL not in signals_of(before)
    assert (after["sends"], after["complete"]) == (2, True)
    assert REQUEST_FINISHED_SIGNAL in signals_of(after)
    assert REQUEST_FINISHED in stored_panel(toolbar).content


# ------------------------------------------------ one count on every surface


def _counts(text: str, pattern: str) -> tuple[int, ...]:
    """The numbers *pattern*'s groups find in *text*: sends, then receiver calls."""
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in {text!r}"
    return tuple(int(number) for number in found.groups())


def subtitle_counts(subtitle: str) -> tuple[int, ...]:
    """Sends and receiver calls, from the panel's subtitle in the sidebar."""
    return _counts(
        subtitle, r"(?P<sends>\d+)\xa0sends? · (?P<calls>\d+)\xa0receiver\xa0calls?"
    )


def sidebar_in_page(html: str) -> str:
    """The panel's subtitle in the toolbar the page was served with."""
    found = re.search(r'id="djdt-SignalTracePanel".*?<small>(.*?)</small>', html, re.S)
    assert found is not None, "the page has no Signal trace button"
    return found[1]


def summary_counts(html: str) -> tuple[int, ...]:
    """Sends and receiver calls, from the first trace summary in *html*."""
    return _counts(
        html,
        r'<p class="st-summary">\s*<span>(?P<sends>\d+) sends?</span>\s*'
        r"<span>(?P<calls>\d+) receiver calls?</span>",
    )


def list_counts(html: str, trace_id: str) -> tuple[int, ...]:
    """Sends and receiver calls, from the viewer list's row of *trace_id*."""
    [row] = [
        row
        for row in re.findall(r"<tr>.*?</tr>", html, re.S)
        if f"/__signaltrace__/{trace_id}/" in row
    ]
    numbers = re.findall(r'<td class="st-number[^"]*">(\d+)', row)
    _status, sends, calls = (int(number) for number in numbers[:3])
    return sends, calls


def not_shown(html: str) -> int:
    """The number of sends the trace component says it left out."""
    found = re.search(r"Not shown: (\d+) sends? that feeds? django-debug", html)
    assert found is not None, "the trace does not say what it left out"
    return int(found[1])


@pytest.fixture
def with_middleware(settings: Any) -> None:
    """The middleware too, first: the viewer's history gets the requests."""
    settings.MIDDLEWARE = [
        "signaltrace.middleware.SignalTraceMiddleware",
        *settings.MIDDLEWARE,
    ]


@pytest.mark.usefixtures("ready", "with_middleware")
@pytest.mark.parametrize("store", STORES, ids=lambda path: path.rpartition(".")[2])
def test_every_surface_counts_the_same_sends_and_receiver_calls(
    client: Client, settings: Any, toolbars: list[DebugToolbar], store: str
) -> None:
    use_store(settings, store)
    response = client.get("/later/")  # flushes two sends from request_finished
    [toolbar] = toolbars
    trace_id = response.headers["X-Signaltrace-Id"]

    panel = stored_panel(toolbar)
    detail = client.get(response.headers["X-Signaltrace-Url"]).content.decode()
    surfaces = {
        "sidebar in the page": subtitle_counts(
            sidebar_in_page(response.content.decode())
        ),
        "sidebar of the History panel": subtitle_counts(panel.nav_subtitle),
        "Server-Timing": _counts(
            response.headers["Server-Timing"],
            r'SignalTracePanel_signals;dur=[\d.]+;desc="(?P<sends>\d+) sends?, '
            r'(?P<calls>\d+) receiver calls?"',
        ),
        "panel's title": _counts(
            panel.title, r"Signal trace: (?P<sends>\d+) sends?, (?P<calls>\d+) rec"
        ),
        "panel": summary_counts(panel.content),
        "viewer's list": list_counts(
            client.get("/__signaltrace__/").content.decode(), trace_id
        ),
        "viewer's page": summary_counts(detail),
    }

    # request_started and the marker; request_finished and the two flushed
    # sends its receiver made are shown after the response, counted apart.
    sends, calls = surfaces.pop("panel")
    assert sends == 2
    for surface, counts in surfaces.items():
        assert counts == (sends, calls)[: len(counts)], surface
    for html in (panel.content, detail):
        assert "after it, <code>request_finished</code> made 3 sends" in html
    # Both leave the toolbar's own sends out, and say how many.
    assert not_shown(panel.content) == not_shown(detail) > 0
    for html in (panel.content, detail):
        assert not {"template_rendered", "_created"} & {
            send["name"] for send in sends_in(html)
        }


def audit_every_save(sender: object, **kwargs: object) -> None:
    """A receiver of every model's post_save, as audit logs connect one."""


@compat.needs_stores
@pytest.mark.usefixtures("ready", "with_middleware")
def test_the_toolbars_database_store_saves_are_not_counted(
    client: Client, settings: Any, toolbars: list[DebugToolbar]
) -> None:
    use_store(settings, compat.DATABASE_STORE)
    post_save.connect(audit_every_save)
    try:
        response = client.get("/later/")
    finally:
        post_save.disconnect(audit_every_save)

    panel = stored_panel(toolbars[0])
    assert subtitle_counts(panel.nav_subtitle) == subtitle_counts(
        sidebar_in_page(response.content.decode())
    )
    assert "debug_toolbar.models.HistoryEntry" not in panel.content


def send_after_the_toolbar(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A middleware above the toolbar's that sends a marker once the view answered."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        marker_sent.send(sender=None, marker="above the toolbar")
        return response

    return middleware


@pytest.mark.usefixtures("ready", "with_middleware")
def test_a_send_from_a_middleware_above_the_toolbar_is_counted_the_same(
    client: Client, settings: Any, toolbars: list[DebugToolbar]
) -> None:
    settings.MIDDLEWARE = [
        f"{__name__}.send_after_the_toolbar",
        *settings.MIDDLEWARE,
    ]

    response = client.get("/page/")

    in_page = subtitle_counts(sidebar_in_page(response.content.decode()))
    assert subtitle_counts(stored_panel(toolbars[0]).nav_subtitle) == in_page
    entry = history.get(response.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert (entry.sends, entry.receiver_calls) == in_page


# ------------------------------------------------------- after a redirect


def post_and_follow(client: Client) -> HttpResponse:
    """POST the form view, which redirects to /page/, and follow the redirect."""
    response: HttpResponse = client.post(
        "/post-redirect/", {"marker": "saved", "next": "/page/"}, follow=True
    )
    assert response.redirect_chain == [("/page/", 302)]
    return response


def previous_section(content: str) -> str:
    """The summary and lines of the request before, without its folded trace."""
    start = content.index('<details class="st-previous"')
    return content[start : content.index('<details class="st-previous-trace">', start)]


def lines_of(previous: str) -> list[tuple[int, str]]:
    """Each line of the request before: its indent and its text."""
    return [
        (int(indent), re.sub(r"<[^>]+>", "", line))
        for indent, line in re.findall(
            r'<li class="st-depth-(\d)" data-st-search="[^"]*">(.*?)</li>', previous
        )
    ]


@pytest.mark.usefixtures("ready")
@pytest.mark.parametrize("render_panels", RENDER_PANELS)
@pytest.mark.parametrize("store", STORES, ids=lambda path: path.rpartition(".")[2])
def test_the_page_after_a_redirect_shows_the_sends_of_the_request_before(
    client: Client,
    settings: Any,
    toolbars: list[DebugToolbar],
    store: str,
    render_panels: bool,
) -> None:
    use_store(settings, store, render_panels=render_panels)

    response = post_and_follow(client)

    posted, followed = toolbars
    sends, calls = subtitle_counts(stored_panel(posted).nav_subtitle)
    content = stored_panel(followed).content
    assert_valid_html(content)
    previous = previous_section(content)
    assert (
        f"Redirected here from <code>POST /post-redirect/</code> (302): "
        f"{sends} sends, {calls} receiver calls</summary>"
    ) in previous
    lines = lines_of(previous)
    assert (0, "marker_sent None → tests.app.views.on_marker") in lines
    assert (0, "outer_sent None → tests.app.views.on_outer") in lines
    assert (1, "inner_sent None → tests.app.views.on_inner") in lines
    assert len(lines) == sends
    # Its full trace, folded, with anchors of its own.
    rows = rows_in(content)
    before = [row for row in rows if row["id"].startswith("st-previous-")]
    own = [row for row in rows if row["id"].startswith("st-send-")]
    assert len(before) + len(own) == len(rows)
    assert {"marker_sent", "outer_sent", "inner_sent"} <= {
        row["name"] for row in before
    }
    assert "outer_sent" not in {row["name"] for row in own}
    assert 'href="#st-previous-' in content
    folded = content[content.index('<details class="st-previous-trace">') :]
    assert "<dt>marker</dt><dd><code>saved</code></dd>" in folded
    if render_panels:
        assert previous in response.content.decode()


@pytest.mark.usefixtures("ready")
def test_the_page_after_a_redirect_says_so_once_the_request_before_is_gone(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    post_and_follow(client)
    posted, followed = toolbars

    compat.forget(compat.request_id(posted))

    panel = stored_panel(followed)
    assert "after\xa0a\xa0redirect" in panel.nav_subtitle
    assert "Redirected here by a request the toolbar no longer keeps." in (
        panel.content
    )


@pytest.mark.usefixtures("ready")
def test_the_stats_say_which_request_they_are_and_which_led_to_it(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    post_and_follow(client)

    posted, followed = (stored_stats(toolbar) for toolbar in toolbars)
    assert (posted["method"], posted["path"], posted["status"]) == (
        "POST",
        "/post-redirect/",
        302,
    )
    assert posted["redirected_from"] is None
    assert (followed["method"], followed["path"], followed["status"]) == (
        "GET",
        "/page/",
        200,
    )
    assert followed["redirected_from"] == compat.request_id(toolbars[0])


@pytest.mark.usefixtures("ready")
def test_a_redirect_names_its_request_in_a_short_lived_cookie(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    response = client.post("/post-redirect/", {"next": "/page/"})

    cookie = response.cookies[REDIRECT_COOKIE]
    assert cookie.value == compat.request_id(toolbars[0])
    assert (cookie["max-age"], cookie["httponly"], cookie["samesite"]) == (
        60,
        True,
        "Lax",
    )


@pytest.mark.usefixtures("ready")
def test_the_page_after_the_redirect_clears_the_cookie(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    response = post_and_follow(client)

    assert response.cookies[REDIRECT_COOKIE].value == ""
    assert response.cookies[REDIRECT_COOKIE]["max-age"] == 0
    client.get("/page/")
    later = stored_panel(toolbars[-1])
    assert later.get_stats()["redirected_from"] is None
    assert "Redirected here" not in later.content


@pytest.mark.usefixtures("ready")
@pytest.mark.parametrize(
    "value",
    ["garbage", "<script>alert(1)</script>", "A" * 32, "0" * 31, "f" * 32],
    ids=["garbage", "markup", "uppercase", "short", "unknown"],
)
def test_a_cookie_naming_no_stored_request_shows_no_trace(
    client: Client, toolbars: list[DebugToolbar], value: str
) -> None:
    client.cookies[REDIRECT_COOKIE] = value

    response = client.get("/page/")

    content = stored_panel(toolbars[-1]).content
    assert_valid_html(content)
    assert "Redirected here from" not in content
    # A well-formed id may name a request the toolbar has let go: it says so.
    gone = "Redirected here by a request the toolbar no longer keeps." in content
    assert gone == (value == "f" * 32)
    assert "alert(1)" not in content
    assert response.cookies[REDIRECT_COOKIE].value == ""  # and it is cleared


# ---------------------------------------------------------- any size, any depth


@pytest.mark.usefixtures("ready")
def test_a_chain_150_sends_deep_renders_as_flat_rows_in_the_panel(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/chain/150/")

    content = stored_panel(toolbars[0]).content
    assert_valid_html(content)
    rows = assert_flat_and_well_formed(content)
    chain = [row for row in rows if row["name"] == "chain_sent"]
    assert [row["enclosing"] for row in chain] == list(range(151))
    assert [row["indent"] for row in chain] == [min(level, 8) for level in range(151)]
    assert chain[-1]["level"] == "level 150"
    assert "level" not in chain[8]


@pytest.mark.usefixtures("ready")
def test_ten_thousand_sends_render_in_the_panel(
    client: Client, settings: Any, toolbars: list[DebugToolbar]
) -> None:
    settings.SIGNALTRACE = {"MAX_EVENTS": 20_000}

    client.get("/haystack/", {"sends": 10_000})

    panel = stored_panel(toolbars[0])
    rows = assert_flat_and_well_formed(panel.content)
    assert [row["id"] for row in rows] == [f"st-send-{row}" for row in range(len(rows))]
    assert sum(1 for row in rows if row["name"] == "marker_sent") == 10_000
    assert rows[-2]["name"] == "needle_sent"  # then request_finished
    assert subtitle_counts(panel.nav_subtitle)[0] == len(rows) - 1
