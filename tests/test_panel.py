"""The django-debug-toolbar panel, tested as the toolbar tests its own panels.

A request goes through the toolbar's middleware; its panel is then loaded back
from the toolbar's store, as the browser loads it when the panel is opened,
and its content is checked, valid HTML included. Every store class, with
``RENDER_PANELS`` on and off, the History panel's read-back and ASGI.

This module is also the URLconf of its tests: the toolbar's URLs, the views
of ``tests.urls`` and a few views of its own.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import html5lib
import pytest
from debug_toolbar.store import get_store
from debug_toolbar.toolbar import DebugToolbar
from django.core.signals import request_finished, request_started
from django.dispatch import Signal, receiver
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.urls import include, path

from signaltrace import install, request_scope
from signaltrace.history import history
from signaltrace.panels import SignalTracePanel
from tests import urls as test_urls
from tests.app.views import marker_sent, unheard

pytestmark = pytest.mark.django_db

PANEL = "SignalTracePanel"
PANELS = [
    "debug_toolbar.panels.history.HistoryPanel",
    "debug_toolbar.panels.timer.TimerPanel",
    "debug_toolbar.panels.signals.SignalsPanel",
    "signaltrace.panels.SignalTracePanel",
]
STORES = [
    "debug_toolbar.store.MemoryStore",
    "debug_toolbar.store.DatabaseStore",
    "debug_toolbar.store.CacheStore",
]
SCRIPT = "<script>window.__xss = 1</script>"
REQUEST_STARTED = 'title="django.core.signals.request_started"'
REQUEST_FINISHED = 'title="django.core.signals.request_finished"'
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
    settings.DEBUG_TOOLBAR_CONFIG = {
        "TOOLBAR_STORE_CLASS": "debug_toolbar.store.MemoryStore"
    }
    yield settings
    request_scope.stop_request_tracing()
    history.clear()
    get_store().clear()


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


def use_store(settings: Any, store: str, *, render_panels: bool = False) -> None:
    settings.DEBUG_TOOLBAR_CONFIG = {
        "TOOLBAR_STORE_CLASS": store,
        "RENDER_PANELS": render_panels,
    }


def stored_panel(request_id: str) -> SignalTracePanel:
    """The panel as the toolbar loads it when it is opened: from the store."""
    toolbar = DebugToolbar.fetch(request_id, PANEL)
    assert toolbar is not None, f"request {request_id} is not in the store"
    panel: SignalTracePanel = toolbar.get_panel_by_id(PANEL)
    return panel


def assert_valid_html(content: str) -> None:
    """The toolbar's own check of panel content."""
    parser = html5lib.HTMLParser()
    parser.parseFragment(content)
    errors = [
        html5lib.constants.E[code] % data for _position, code, data in parser.errors
    ]
    assert not errors, "Content is invalid HTML:\n" + "\n".join(errors)


class _Sends(HTMLParser):
    """Each send's short signal name with its depth and its bar's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.open_items: list[bool] = []  # per open <li>: is it a send?
        self.in_signal = False
        self.sends: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "li":
            self.open_items.append("st-send" in classes)
        if tag == "rect" and self.sends and "x" not in self.sends[-1]:
            self.sends[-1]["x"] = float(attributes["x"] or 0)
            self.sends[-1]["width"] = float(attributes["width"] or 0)
        self.in_signal = tag == "code" and "st-signal" in classes

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self.open_items.pop()
        self.in_signal = False

    def handle_data(self, data: str) -> None:
        if self.in_signal:
            self.sends.append({"name": data, "depth": sum(self.open_items) - 1})


def sends_in(content: str) -> list[dict[str, Any]]:
    parser = _Sends()
    parser.feed(content)
    return parser.sends


# ----------------------------------------------------------- what it shows


@pytest.mark.usefixtures("ready")
@pytest.mark.parametrize("render_panels", [False, True], ids=["lazy", "rendered"])
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

    content = stored_panel(toolbars[-1].request_id).content
    assert_valid_html(content)
    names = [send["name"] for send in sends_in(content)]
    assert names[0] == "request_started"
    assert names[-1] == "request_finished"
    assert {"marker_sent", "audited"} <= set(names)


@pytest.mark.usefixtures("ready")
def test_stats_are_json_safe_and_survive_the_store(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    toolbar = toolbars[-1]
    stored = get_store().panel(toolbar.request_id, PANEL)
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

    subtitle = stored_panel(toolbars[-1].request_id).nav_subtitle
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
    use_store(settings, "debug_toolbar.store.MemoryStore", render_panels=True)

    html = client.get("/page/").content.decode()

    assert "st-incomplete" in html
    assert REQUEST_STARTED in html
    assert REQUEST_FINISHED not in html


@pytest.mark.usefixtures("ready")
def test_lazily_loaded_panel_does_not_say_anything_is_missing(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    assert "st-incomplete" not in stored_panel(toolbars[-1].request_id).content


@pytest.mark.usefixtures("ready")
def test_waterfall_indents_sends_under_the_send_that_made_them(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/nested/")

    depths = {
        send["name"]: send["depth"]
        for send in sends_in(stored_panel(toolbars[-1].request_id).content)
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

    sends = sends_in(stored_panel(toolbars[-1].request_id).content)
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

    content = stored_panel(toolbars[-1].request_id).content
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

    content = stored_panel(toolbars[-1].request_id).content
    assert "Raised AuditDown: the audit log is down (caught by send_robust)" in content
    [row] = re.findall(r'<li class="st-send st-failed"[^>]*>', content)
    assert "audited" in row
    assert '<span class="st-tag st-error">1 error</span>' in content


@pytest.mark.usefixtures("ready")
def test_summary_groups_sends_by_signal_and_sender_with_the_counted_ones(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    content = stored_panel(toolbars[-1].request_id).content
    groups = content[content.index('class="st-groups"') :]
    row = re.search(r"<code>tests\.app\.views\.unheard</code>.*?</tr>", groups, re.S)
    assert row is not None
    cells = re.findall(r'<td class="st-number[^"]*">([^<]*)</td>', row.group())
    assert cells == ["3"]  # three sends, only counted


@pytest.mark.usefixtures("ready")
def test_stack_shows_where_the_send_came_from_without_hidden_modules(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    stored = get_store().panel(toolbars[-1].request_id, PANEL)
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
    content = stored_panel(toolbars[-1].request_id).content
    assert '<span class="djdt-func">page</span>' in content


@pytest.mark.usefixtures("ready")
def test_no_stacks_when_the_toolbar_turns_stack_traces_off(
    client: Client, settings: Any, toolbars: list[DebugToolbar]
) -> None:
    settings.DEBUG_TOOLBAR_CONFIG = {
        "TOOLBAR_STORE_CLASS": "debug_toolbar.store.MemoryStore",
        "ENABLE_STACKTRACES": False,
    }

    client.get("/page/")

    stored = get_store().panel(toolbars[-1].request_id, PANEL)
    assert all(event["stack"] is None for event in stored["trace"]["events"])


@pytest.mark.usefixtures("ready")
def test_sends_the_toolbar_makes_for_its_own_panels_are_left_out(
    client: Client,
) -> None:
    client.get("/page/")  # its toolbar renders templates: template_rendered

    [request_id] = get_store().request_ids()  # MemoryStore, one request
    stored = get_store().panel(request_id, PANEL)
    signals = {event["signal"] for event in stored["trace"]["events"]} | {
        count["signal"] for count in stored["trace"]["counts"]
    }
    assert "django.test.signals.template_rendered" not in signals
    assert not any(signal.startswith("<unnamed") for signal in signals)  # _created
    assert stored["toolbar_sends"] > 0
    assert "the toolbar made for its own panels" in stored_panel(request_id).content


# ------------------------------------------------------------------ safety


@pytest.mark.usefixtures("ready")
@pytest.mark.parametrize("render_panels", [False, True], ids=["lazy", "rendered"])
def test_kwargs_holding_html_show_as_text(
    client: Client, settings: Any, toolbars: list[DebugToolbar], render_panels: bool
) -> None:
    use_store(settings, "debug_toolbar.store.MemoryStore", render_panels=render_panels)

    response = client.get("/page/", {"marker": SCRIPT})

    for html in (
        response.content.decode(),
        stored_panel(toolbars[-1].request_id).content,
    ):
        assert SCRIPT not in html
    content = stored_panel(toolbars[-1].request_id).content
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in content


@pytest.mark.usefixtures("ready")
def test_content_has_no_inline_script_or_style(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")

    content = stored_panel(toolbars[-1].request_id).content
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
    request_id = toolbars[-1].request_id
    client.get("/hello/")  # the History panel then switches back to /page/

    sidebar = client.get(
        "/__debug__/history_sidebar/",
        {"request_id": request_id, "exclude_history": True},
    ).json()
    rendered = client.get(
        "/__debug__/render_panel/", {"request_id": request_id, "panel_id": PANEL}
    ).json()

    stored = get_store().panel(request_id, PANEL)
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

    assert REQUEST_FINISHED in stored_panel(toolbars[-1].request_id).content
    assert ("X-Signaltrace-Id" in response.headers) is with_middleware
    assert len(history.entries()) == (1 if with_middleware else 0)


@pytest.mark.parametrize(
    "store", ["debug_toolbar.store.MemoryStore", "debug_toolbar.store.CacheStore"]
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

    panel = stored_panel(toolbars[-1].request_id)
    names = [send["name"] for send in sends_in(panel.content)]
    assert names[0] == "request_started"
    assert names.count("marker_sent") == 3
    assert names[-1] == "request_finished"
    assert re.fullmatch(SUBTITLE, panel.nav_subtitle)


def test_without_request_tracing_the_panel_records_the_middle_of_the_request(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/page/")  # SignalTracePanel.ready() never ran

    stored = get_store().panel(toolbars[-1].request_id, PANEL)
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
    before = get_store().panel(toolbar.request_id, PANEL)
    request_finished.send(sender=None)
    after = get_store().panel(toolbar.request_id, PANEL)

    # Until it finished, only the sidebar's totals were stored.
    assert (before["sends"], "trace" in before) == (2, False)
    assert (after["sends"], after["complete"]) == (3, True)
    reloaded = stored_panel(toolbar.request_id)
    assert reloaded.from_store
    assert REQUEST_FINISHED in reloaded.content
