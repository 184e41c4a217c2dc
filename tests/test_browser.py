"""The panel and the viewer in a real browser: Debian's Chromium, driven by Playwright.

The demo site (testproject/) runs in a subprocess, on a free port and a
database of its own. Chromium buys a product (the shop's order_completed,
with a nested send, a slow receiver and an error send_robust swallowed),
opens the toolbar's Signal trace panel on that request, finds the sends,
expands one and filters the list; then it opens a page whose signal carries
markup and checks that nothing ran. The screenshots it saves are the docs'
(docs/_static/screenshots/).

Chromium comes from Debian (``apt-get install chromium``, which ``make test``
runs when it can); Playwright never downloads a browser here. Without
Chromium or Playwright the test skips, except under ``CI=true``, where it
fails: CI must run it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture skips then, or fails under CI
    expect = sync_playwright = None

ROOT = Path(__file__).resolve().parent.parent
TESTPROJECT = ROOT / "testproject"
SCREENSHOTS = ROOT / "docs" / "_static" / "screenshots"
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


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    """A fresh tab; any script error on it fails the test."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, base_url=site
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"Script errors on the page: {errors}"


def _open_panel(page: Any) -> Any:
    """Open the toolbar's Signal trace panel; return the panel's element."""
    page.locator("#djdt-SignalTracePanel > a").click()
    panel = page.locator("#SignalTracePanel")
    panel.locator(".st-send").first.wait_for()
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
    assert _names(order)[1] == "payment_completed"  # nested under it

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
    # The toolbar's Templates and Static files panels send signals of their
    # own on every page; the viewer is about the project's.
    page.context.add_cookies(
        [
            {"name": f"djdt{panel}", "value": "off", "url": site}
            for panel in ("TemplatesPanel", "StaticFilesPanel")
        ]
    )
    _buy(page)
    page.goto(f"/echo/?text={quote(PAYLOAD)}")

    page.goto("/__signaltrace__/")
    page.get_by_role("link", name="/shop/signal-mug/buy/").first.click()
    page.locator("#djHideToolBarButton").click()  # the toolbar is on this page too
    tree = page.locator(".signaltrace")
    details = _expand(_send(tree, "shop.signals.order_completed"))
    assert "shop.receivers.reserve_stock" in details.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "viewer.png", full_page=True)

    page.goto("/__signaltrace__/")
    page.get_by_role("link", name="/echo/").first.click()
    details = _expand(_send(page, "testproject.views.text_echoed"))
    assert PAYLOAD in details.inner_text()
    assert page.evaluate("window.__xss") is None
