"""How much CPU the panel and the viewer take to show a request of 10,000 sends.

Records a real request trace through ``SignalTraceMiddleware`` (a view making
2,500 top-level sends, each with a receiver making three nested sends: 10,000
events with ``request_started``/``request_finished``, the first 1,000 with
their stacks, as the toolbar's panel has them recorded), then measures the CPU
time (``time.process_time()``, best of several runs) of:

- the viewer's page of that request (``GET /__signaltrace__/<id>/``, through
  Django's test client, the history's entry converted on every request);
- the toolbar panel's content, from stats as the toolbar stores them
  (``SignalTracePanel.content``'s work: the trace's ``to_dict()``, then
  ``html_context()`` and the panel template).

Target (issue 14): each under one second of CPU.

    python benchmarks/pages.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from time import process_time
from typing import Any

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ROOTS = 2_500
NESTED = 3
RUNS = 3

if not settings.configured:
    settings.configure(
        DEBUG=True,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "signaltrace",
        ],
        MIDDLEWARE=["signaltrace.middleware.SignalTraceMiddleware"],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        INTERNAL_IPS=["127.0.0.1"],
        ALLOWED_HOSTS=["*"],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
            }
        ],
        # Stacks on, as the toolbar's panel turns them on (ENABLE_STACKTRACES):
        # they are kept for the first 1,000 sends.
        SIGNALTRACE={"MAX_EVENTS": 20_000, "CAPTURE_STACKS": True},
        USE_TZ=True,
    )
django.setup()

from django.dispatch import Signal  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.template.loader import render_to_string  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import include, path  # noqa: E402

from signaltrace.history import history  # noqa: E402
from signaltrace.waterfall import html_context  # noqa: E402

order_paid = Signal()
stock_changed = Signal()


def reserve_stock(sender: object, **kwargs: Any) -> str:
    for line in range(NESTED):
        stock_changed.send(sender=sender, sku=f"SKU-{line}", quantity=line + 1)
    return "reserved"


def log_stock(sender: object, **kwargs: Any) -> None:
    pass


def checkout(request: HttpRequest) -> HttpResponse:
    for number in range(ROOTS):
        order_paid.send(sender=None, order=number, total=f"{number}.00")
    return HttpResponse("ok")


urlpatterns = [
    path("checkout/", checkout),
    path("__signaltrace__/", include("signaltrace.urls")),
]


def best(function: Any) -> float:
    timings = []
    for _ in range(RUNS):
        started = process_time()
        function()
        timings.append(process_time() - started)
    return min(timings)


def main() -> None:
    order_paid.connect(reserve_stock)
    stock_changed.connect(log_stock)
    client = Client(REMOTE_ADDR="127.0.0.1")
    trace_id = client.get("/checkout/").headers["X-Signaltrace-Id"]
    entry = history.get(trace_id)
    assert entry is not None
    assert entry.trace is not None
    events = len(entry.trace.events)

    def viewer() -> None:
        entry._data = entry._summary = None  # as on a first visit
        response = client.get(f"/__signaltrace__/{trace_id}/")
        assert response.status_code == 200
        assert response.content.count(b'class="st-send ') == events

    def panel() -> None:
        data = entry.trace.to_dict()  # what the panel stores
        html = render_to_string(
            "signaltrace/panel.html",
            {"signal_trace": html_context(data), "complete": True},
        )
        assert html.count('class="st-send ') == events

    page = client.get(f"/__signaltrace__/{trace_id}/").content
    print(f"events: {events}, viewer page: {len(page) / 1e6:.1f} MB")
    for name, function in (("viewer page", viewer), ("panel content", panel)):
        cpu = best(function)
        verdict = "PASS" if cpu < 1 else "MISS"
        print(f"{name + ':':15} {cpu * 1000:7.0f} ms of CPU ({verdict}: under 1000 ms)")


if __name__ == "__main__":
    main()
