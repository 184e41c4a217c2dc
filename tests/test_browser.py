"""The panel and the viewer in a real browser: Debian's Chromium, driven by Playwright.

The demo site (testproject/) runs in a subprocess, on a free port and a
database of its own. Chromium buys a product (the shop's order_completed,
with a nested send, a slow receiver and an error send_robust swallowed),
opens the toolbar's Signal trace panel on that request, finds the sends,
expands one and filters the list; then it opens a page whose signal carries
markup and checks that nothing ran. Bought as anyone buys, the redirect
followed, the product page's panel shows what the purchase fired. It
saves screenshots to build/screenshots/ (never to a tracked file): ``make
screenshots`` copies them to the docs' docs/_static/screenshots/.

The suite's own views (tests/urls.py) are served from this process for the
large and deep traces: the viewer's filter finds a send at the end of
thousands, a parent link scrolls to its send, a chain 150 deep says its level.

Chromium comes from Debian (``apt-get install chromium``, which ``make test``
runs when it can); Playwright never downloads a browser here. Without
Chromium or Playwright the test skips, except under ``CI=true``, where it
fails: CI must run it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.test import override_settings

from signaltrace import request_scope
from signaltrace.history import history

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture skips then, or fails under CI
    expect = sync_playwright = None

ROOT = Path(__file__).resolve().parent.parent
TESTPROJECT = ROOT / "testproject"
#: Where the screenshots go; ``make screenshots`` copies them into the docs.
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Runs if the page, the panel or the viewer ever treats it as markup.
PAYLOAD = "<script>window.__xss = 1</script><img src=x onerror=window.__xss=2>"
#: A bound on how long the site may take to start: a hang guard.
STARTUP_SECONDS = 60


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser test.")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo site on a free port, with a fresh database and its demo data."""
    folder = tmp_path_factory.mktemp("site")
    log = folder / "server.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
        "SIGNALTRACE_DEMO_DB": str(folder / "db.sqlite3"),
        "PYTHONUNBUFFERED": "1",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["load_demo"]):
        subprocess.run(
            [*manage, *command],
            cwd=TESTPROJECT,
            env=env,
            check=True,
            capture_output=True,
            timeout=STARTUP_SECONDS,
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=TESTPROJECT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base, server, log)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=STARTUP_SECONDS)


def _wait_for(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"The demo site stopped:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/echo/", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"The demo site did not answer in time:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    if sync_playwright is None:
        _unavailable("Playwright is not installed (the dev extra has it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def app_site() -> Iterator[str]:
    """The suite's own views (tests/urls.py), traced, served from this process.

    On a free port, by the server runserver uses, with the middleware and
    room for large traces; the history is this process's, so tests can read
    it. The views used send signals only (no database).
    """
    with override_settings(
        DEBUG=True,
        MIDDLEWARE=["signaltrace.middleware.SignalTraceMiddleware"],
        ROOT_URLCONF="tests.urls",
        SIGNALTRACE={"MAX_EVENTS": 20_000},
    ):
        server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietRequestHandler)
        server.set_app(WSGIHandler())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=STARTUP_SECONDS)
            request_scope.stop_request_tracing()
            history.clear()


class _QuietRequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _tab(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh tab on *base_url*; any script error on it fails the test."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, base_url=base_url
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"Script errors on the page: {errors}"


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    """A fresh tab on the demo site."""
    with _tab(browser, site) as tab:
        yield tab


@pytest.fixture
def app_page(browser: Any, app_site: str) -> Iterator[Any]:
    """A fresh tab on the suite's own views."""
    with _tab(browser, app_site) as tab:
        yield tab


def _open_panel(page: Any) -> Any:
    """Open the toolbar's Signal trace panel; return the panel's element."""
    page.locator("#djdt-SignalTracePanel > a").click()
    panel = page.locator("#SignalTracePanel")
    # Its own rows: those of a request before a redirect are folded.
    panel.locator('.st-send[id^="st-send-"]').first.wait_for()
    return panel


def _send(scope: Any, signal: str) -> Any:
    """The waterfall row of the first send of *signal* (its dotted path)."""
    return scope.locator(f'li.st-send[data-st-search^="{signal} "]').first


def _expand(send: Any) -> Any:
    """Click a send's row open; return its details."""
    send.locator("summary").first.click()
    details = send.locator(".st-body").first
    details.wait_for()
    return details


def _names(scope: Any) -> list[str]:
    names: list[str] = scope.locator("code.st-signal:visible").all_text_contents()
    return names


def _buy(page: Any) -> None:
    page.goto("/shop/signal-mug/")
    page.get_by_role("button", name="Buy").click()
    page.wait_for_load_state()


def test_panel_shows_what_a_purchase_fired(page: Any, site: str) -> None:
    # The toolbar stays on a redirect's own request when its Redirects panel
    # is on, as this cookie makes it for this tab.
    page.context.add_cookies(
        [{"name": "djdtRedirectsPanel", "value": "on", "url": site}]
    )
    _buy(page)

    panel = _open_panel(page)
    names = _names(panel)
    assert names[0] == "request_started"
    assert names[-1] == "request_finished"
    assert {"order_completed", "payment_completed"} <= set(names)
    assert panel.locator(".st-send.st-failed").count() >= 1
    # The order's save reached no receiver: it is counted in the summary.
    rows = panel.locator(".st-groups tr").all_text_contents()
    assert any(
        "signals.post_save" in row and "shop.models.Order" in row for row in rows
    )
    order = _send(panel, "shop.signals.order_completed")
    details = _expand(order)
    assert "shop.receivers.reserve_stock" in details.inner_text()
    # Made by one of its receivers: the rows are flat, each names its parent.
    order_id = order.get_attribute("data-st-id")
    nested = panel.locator(f'.st-send[data-st-parent="{order_id}"]')
    assert _names(nested) == ["payment_completed"]
    assert "st-depth-1" in (nested.get_attribute("class") or "").split()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "panel.png")


def test_panel_filter_narrows_the_sends(page: Any, site: str) -> None:
    page.context.add_cookies(
        [{"name": "djdtRedirectsPanel", "value": "on", "url": site}]
    )
    _buy(page)
    panel = _open_panel(page)
    everything = len(_names(panel))

    panel.locator(".st-filter").fill("order_completed")

    expect(panel.locator(".st-filter-status")).to_have_text(
        f"1 of {everything} sends match"
    )
    assert _names(panel) == ["order_completed"]
    panel.locator(".st-filter").fill("")
    expect(panel.locator(".st-filter-status")).to_have_text("")
    assert len(_names(panel)) == everything


def test_markup_in_a_signal_argument_shows_as_text(page: Any) -> None:
    page.goto(f"/echo/?text={quote(PAYLOAD)}")

    panel = _open_panel(page)
    details = _expand(_send(panel, "testproject.views.text_echoed"))

    argument = details.locator(".st-kwargs dd code").first
    assert argument.inner_text() == PAYLOAD
    assert page.evaluate("window.__xss") is None


def test_viewer_shows_the_same_tree(page: Any, site: str) -> None:
    page.context.add_cookies(
        [{"name": "djdtRedirectsPanel", "value": "on", "url": site}]
    )
    _buy(page)
    page.goto(f"/echo/?text={quote(PAYLOAD)}")

    page.goto("/__signaltrace__/")
    page.get_by_role("link", name="/shop/signal-mug/buy/").first.click()
    page.locator("#djHideToolBarButton").click()  # the toolbar is on this page too
    tree = page.locator(".signaltrace")
    details = _expand(_send(tree, "shop.signals.order_completed"))
    assert "shop.receivers.reserve_stock" in details.inner_text()
    # The toolbar's Templates and Static files panels send signals of their
    # own on every page: left out, and said so.
    assert "template_rendered" not in _names(tree)
    expect(tree.locator(".st-hidden-sends")).to_contain_text("Not shown: ")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "viewer.png", full_page=True)

    page.goto("/__signaltrace__/")
    page.get_by_role("link", name="/echo/").first.click()
    details = _expand(_send(page, "testproject.views.text_echoed"))
    assert PAYLOAD in details.inner_text()
    assert page.evaluate("window.__xss") is None


# ------------------------------------------------------- after a redirect


def test_the_page_after_a_purchase_shows_what_the_purchase_fired(
    page: Any,
) -> None:
    _buy(page)  # the browser follows the redirect, as it does for anyone

    assert page.url.endswith("/shop/signal-mug/")
    panel = _open_panel(page)
    previous = panel.locator(".st-previous")
    heading = previous.locator("summary").first
    expect(heading).to_contain_text(
        "Redirected here from POST /shop/signal-mug/buy/ (302): "
    )
    # As text, whatever the styles (the panel's stylesheet may still be loading).
    lines = [
        " ".join(line.split())
        for line in previous.locator(".st-previous-sends li").all_text_contents()
    ]
    assert any(line.startswith("order_completed ") for line in lines), lines
    assert any(line.startswith("payment_completed ") for line in lines), lines
    # Its full trace, folded: opened, the purchase's sends are there to expand.
    folded = previous.locator(".st-previous-trace")
    folded.locator("summary").first.click()
    order = _send(folded, "shop.signals.order_completed")
    details = _expand(order)
    assert "shop.receivers.reserve_stock" in details.inner_text()

    # The same count as the viewer's row of the purchase.
    sends = re.search(r": (\d+) sends?, ", heading.inner_text())
    assert sends is not None
    page.goto("/__signaltrace__/")
    assert _list_cell(page, "/shop/signal-mug/buy/", "Sends") == sends[1]
    expect(_list_row(page, "/shop/signal-mug/")).to_contain_text("after a redirect")


def _list_row(page: Any, path: str) -> Any:
    """The viewer list's newest row whose link ends with *path*."""
    # Playwright hands the pattern to the browser between slashes.
    ending = re.escape(path).replace("/", r"\/")
    link = page.get_by_role("link", name=re.compile(rf"(^|\s){ending}$"))
    return page.locator("tr", has=link).first


def _list_cell(page: Any, path: str, column: str) -> str:
    """The text of *column* (its heading) in the newest row of *path*."""
    headings = page.locator("thead th").all_inner_texts()
    text: str = (
        _list_row(page, path).locator("td").nth(headings.index(column)).inner_text()
    )
    return text


# -------------------------------------------------- large and deep traces


def _viewer_url(tab: Any, path: str) -> str:
    """Make a request; the viewer's URL of its trace."""
    response = tab.request.get(path)
    assert response.ok, response.status
    url: str = response.headers["x-signaltrace-url"]
    return url


def test_the_filter_reaches_a_send_at_the_end_of_thousands(app_page: Any) -> None:
    sends = 3_000
    app_page.goto(_viewer_url(app_page, f"/haystack/?sends={sends}"))
    rows = app_page.locator("li.st-send")
    # request_started, batch_sent and its markers, the chain, the needle,
    # request_finished.
    total = 1 + 1 + sends + 3 + 1 + 1
    expect(rows).to_have_count(total)

    app_page.locator(".st-filter").fill("on_needle")

    expect(app_page.locator(".st-filter-status")).to_have_text(
        f"1 of {total} sends match"
    )
    needle = _send(app_page, "tests.app.views.needle_sent")
    expect(needle).to_be_visible()
    # The sends enclosing it stay, dimmed: the chain it was sent at the bottom of.
    visible = app_page.locator("li.st-send:visible")
    assert _names(visible) == ["chain_sent", "chain_sent", "chain_sent", "needle_sent"]
    expect(app_page.locator("li.st-send.st-context")).to_have_count(3)
    expect(app_page.locator("li.st-send.st-hidden")).to_have_count(total - 4)


def test_a_parent_link_scrolls_to_the_send_it_was_made_in(app_page: Any) -> None:
    app_page.goto(_viewer_url(app_page, "/haystack/?sends=2000"))
    batch = _send(app_page, "tests.app.views.batch_sent")
    last = app_page.locator('li.st-send[data-st-search*="marker_sent"]').last

    details = _expand(last)
    details.locator("a.st-parent-link").click()

    expect(batch).to_be_in_viewport()
    expect(last).not_to_be_in_viewport()
    expect(batch.locator("summary").first).to_be_focused()


def test_a_chain_150_deep_shows_its_levels(app_page: Any) -> None:
    app_page.goto(_viewer_url(app_page, "/chain/150/"))

    chain = app_page.locator(
        'li.st-send[data-st-search^="tests.app.views.chain_sent "]'
    )
    expect(chain).to_have_count(151)
    deepest = chain.last
    deepest.scroll_into_view_if_needed()
    expect(deepest.locator(".st-level")).to_have_text("level 150")
    # Indented as far as the eighth level, no further: the tag says how deep.
    seventh, eighth, deepest_indent = (
        float(
            row.locator(".st-what")
            .first.evaluate("node => getComputedStyle(node).paddingLeft")
            .removesuffix("px")
        )
        for row in (chain.nth(7), chain.nth(8), deepest)
    )
    assert 0 < seventh < eighth == deepest_indent
