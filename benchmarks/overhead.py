"""What tracing costs: per send, per receiver call, per request, per toolbar page.

Run ``python benchmarks/overhead.py`` (``make benchmark``); ``--only NAME``
runs one section, ``--repeat N`` sets the repeats. It configures its own
settings (an in-memory SQLite database, three small models, this module as
the URLconf) and prints, against bare Django, with PASS or MISS:

- ``send``, ``send_robust``: ``signal.send(sender=None, a=1)`` of a custom
  ``Signal`` with 0, 1 and 5 module-level no-op receivers, inside a
  ``signaltrace.capture()``; from 1 and 5 receivers, the time added per send
  and per receiver call (on Django 4.2 ``send_robust``'s receivers run
  through proxies, see docs/how-it-works.rst);
- ``post_save``: a custom signal sent the way ``Model.save()`` sends
  ``post_save`` (a model class, a saved instance, ``created``, ...) to one
  receiver: the time added per send, describing the values included;
- ``queryset``: evaluating a 10,000-row queryset (20,000 ``pre_init`` and
  ``post_init`` sends that reach no receiver: counted, not stored);
- ``create``: ``Model.objects.create()`` with one ``post_save`` receiver;
- ``instances``: 100,000 instantiations, and the memory the trace takes;
- ``outside``: with ``SignalTraceMiddleware`` and the toolbar's panel loaded,
  a send made outside any request, against a process whose request tracing
  is off; ``Signal``'s methods are Django's and no query wrapper is left;
- ``request``: a request through ``SignalTraceMiddleware`` to a view that
  creates 100 rows, each with a ``post_save`` receiver, against the same
  request without the middleware;
- ``memory``: 200 sends of a fresh 1 MB value in one traced request: the
  ``tracemalloc`` peak against the same request untraced;
- ``toolbar``: a page through django-debug-toolbar with its default panels
  plus ``SignalTracePanel``, against the same toolbar without it.

Requests go straight through a ``WSGIHandler`` (environs from
``RequestFactory``), and each is closed, as a server does, so that
``request_finished`` is part of it. A handler with the middleware (or the
panel's ``ready()``) turns request tracing on for the whole process, so each
bare run turns it off first (``stop_request_tracing()``) and each traced run
builds its handler again, which turns it back on.

Each timing is repeated (bare and traced alternate, so drift hits both) and
reported as the minimum and the median; verdicts use the minimum, the least
noisy estimate on a busy machine. The garbage collector is paused while timing,
as ``timeit`` does. A summary of every budget ends the report. The exit status
is 0 whatever the verdicts: these numbers are for the docs, not a gate.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, TypeVar

import django
from django.conf import settings

#: The page the toolbar section renders (a locmem template).
PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><title>Items</title></head>
<body><h1>{{ items|length }} items</h1>
<ul>{% for item in items %}<li>{{ item.pk }}: {{ item.value }}</li>{% endfor %}</ul>
</body></html>
"""

# A superset of what every section needs; MIDDLEWARE, DEBUG and the toolbar's
# panels are set per handler with override_settings. DEBUG stays off outside
# the toolbar section: on, every query would be logged in connection.queries.
settings.configure(
    DEBUG=False,
    SECRET_KEY="signaltrace-overhead",
    ALLOWED_HOSTS=["testserver"],
    INTERNAL_IPS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["django.contrib.staticfiles", "debug_toolbar", "signaltrace"],
    MIDDLEWARE=[],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                # Cached, as Django's default loaders are: a page would
                # otherwise parse the toolbar's templates again each time.
                "loaders": [
                    (
                        "django.template.loaders.cached.Loader",
                        [
                            (
                                "django.template.loaders.locmem.Loader",
                                {"overhead/page.html": PAGE_TEMPLATE},
                            ),
                            "django.template.loaders.app_directories.Loader",
                        ],
                    )
                ],
                "context_processors": ["django.template.context_processors.request"],
            },
        }
    ],
    STATIC_URL="/static/",
    USE_TZ=True,
    # The middleware raises MiddlewareNotUsed with DEBUG off unless enabled.
    SIGNALTRACE={"ENABLED": True},
    DEBUG_TOOLBAR_CONFIG={"TOOLBAR_STORE_CLASS": "debug_toolbar.store.MemoryStore"},
)
django.setup()

from debug_toolbar.settings import PANELS_DEFAULTS  # noqa: E402
from debug_toolbar.store import get_store  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection, connections, models, transaction  # noqa: E402
from django.db.models.signals import post_save  # noqa: E402
from django.dispatch import Signal  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402
from timing import Timing  # noqa: E402

import signaltrace  # noqa: E402
from signaltrace import install, queries, request_scope  # noqa: E402
from signaltrace.history import history  # noqa: E402
from signaltrace.panels import SignalTracePanel  # noqa: E402

#: Django's own send methods, taken before any capture could wrap them.
ORIGINALS = {
    name: Signal.__dict__[name]
    for name in ("send", "send_robust", "asend", "asend_robust")
    if name in Signal.__dict__
}

T = TypeVar("T")

MIDDLEWARE = "signaltrace.middleware.SignalTraceMiddleware"
TOOLBAR_MIDDLEWARE = "debug_toolbar.middleware.DebugToolbarMiddleware"
PANEL = "signaltrace.panels.SignalTracePanel"

#: The budgets: added seconds per send and per receiver call, added seconds
#: per post_save-shaped send, ratios against bare Django, bytes.
TARGET_PER_SEND = 1.0e-6
TARGET_PER_RECEIVER = 0.4e-6
TARGET_POST_SAVE_SEND = 2.0e-6
TARGET_OUTSIDE_SEND = 0.1e-6
TARGET_QUERYSET_RATIO = 1.25
TARGET_REQUEST_RATIO = 1.25
TARGET_TOOLBAR_RATIO = 1.5
TARGET_MEMORY = 40 * 1024 * 1024


# ------------------------------------------------------------------ models


class Row(models.Model):
    """A small model, for the queryset and instantiation measurements."""

    name = models.CharField(max_length=50)
    value = models.IntegerField()

    class Meta:
        app_label = "overhead"

    def __str__(self) -> str:
        return self.name


class Note(models.Model):
    """Saved one by one, with a ``post_save`` receiver, as real code does."""

    value = models.IntegerField()

    class Meta:
        app_label = "overhead"

    def __str__(self) -> str:
        return str(self.value)


class Item(models.Model):
    """Created by the views, with a ``post_save`` receiver while they are timed."""

    value = models.IntegerField()

    class Meta:
        app_label = "overhead"

    def __str__(self) -> str:
        return str(self.value)


# --------------------------------------------------------------- receivers


def no_op(sender: object, **kwargs: Any) -> None:
    """A receiver that does nothing, so that only dispatch is measured."""


# Distinct module-level functions: Django keys receivers by identity.
def receiver_1(sender: object, **kwargs: Any) -> None:
    """The first no-op receiver."""


def receiver_2(sender: object, **kwargs: Any) -> None:
    """The second no-op receiver."""


def receiver_3(sender: object, **kwargs: Any) -> None:
    """The third no-op receiver."""


def receiver_4(sender: object, **kwargs: Any) -> None:
    """The fourth no-op receiver."""


def receiver_5(sender: object, **kwargs: Any) -> None:
    """The fifth no-op receiver."""


RECEIVERS: list[Callable[..., None]] = [
    receiver_1,
    receiver_2,
    receiver_3,
    receiver_4,
    receiver_5,
]

#: Sent by the memory section's view, a 1 MB value each time.
payload_sent = Signal()

# ------------------------------------------------------------ views, URLs

ITEMS_PER_REQUEST = 100
ITEMS_PER_PAGE = 10
PAYLOADS = 200
MB = 1024 * 1024

#: What the probe view saw while its request was in flight.
probed: dict[str, bool] = {}


def create_items(request: HttpRequest) -> HttpResponse:
    """Create 100 rows in one transaction, as a view handling a batch would."""
    with transaction.atomic():
        for value in range(ITEMS_PER_REQUEST):
            Item.objects.create(value=value)
    return HttpResponse("created", content_type="text/plain")


def items_page(request: HttpRequest) -> HttpResponse:
    """Create 10 rows and render them in a small HTML page."""
    with transaction.atomic():
        items = [Item.objects.create(value=value) for value in range(ITEMS_PER_PAGE)]
    return render(request, "overhead/page.html", {"items": items})


def send_payloads(request: HttpRequest) -> HttpResponse:
    """Send 200 fresh 1 MB values, each dropped before the next is made."""
    for number in range(PAYLOADS):
        payload_sent.send(sender=None, payload=number.to_bytes(8, "little") * (MB // 8))
    return HttpResponse("sent", content_type="text/plain")


def probe(request: HttpRequest) -> HttpResponse:
    """Note whether the recorder and the query wrapper are in during a request."""
    probed["installed"] = install.is_installed()
    probed["query_wrapper"] = queries._record in connection.execute_wrappers
    return HttpResponse("probed", content_type="text/plain")


urlpatterns = [
    path("__debug__/", include("debug_toolbar.urls")),
    path("create/", create_items),
    path("page/", items_page),
    path("payloads/", send_payloads),
    path("probe/", probe),
]

# ----------------------------------------------------------------- timing


@dataclass
class Budget:
    """One budget's outcome, for the summary."""

    name: str
    measured: str
    target: str
    passed: bool


#: Every budget checked in this run, in order.
BUDGETS: list[Budget] = []


def judge(name: str, measured: str, target: str, passed: bool) -> str:
    """Note a budget's outcome for the summary; return its verdict."""
    BUDGETS.append(Budget(name, measured, target, passed))
    return verdict(passed)


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Pause the garbage collector, as ``timeit`` does."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def timed(operation: Callable[[], object], per: int) -> float:
    """Seconds per one of *per* for one run of *operation*, GC paused."""
    with quiet_gc():
        started = perf_counter()
        operation()
        return (perf_counter() - started) / per


def assert_bare() -> None:
    """Fail unless ``Signal``'s methods are Django's own functions."""
    for name, function in ORIGINALS.items():
        if Signal.__dict__[name] is not function:
            raise AssertionError(f"Signal.{name} is not Django's own function")


def alternate(
    bare: Callable[[], float],
    traced: Callable[[], float],
    repeats: int,
    *,
    warm_up: bool = True,
) -> tuple[Timing, Timing]:
    """Run *bare* and *traced* (each returns its seconds) alternately.

    With *warm_up*, each runs once first, untimed, to warm caches (names,
    querysets, templates, code paths).
    """
    if warm_up:
        bare()
        traced()
    bare_samples: list[float] = []
    traced_samples: list[float] = []
    for _ in range(repeats):
        bare_samples.append(bare())
        traced_samples.append(traced())
    return Timing(bare_samples), Timing(traced_samples)


def compare(
    operation: Callable[[], None],
    per: int,
    repeats: int,
    capture: Callable[[], Any],
    check: Callable[[signaltrace.Trace], None],
) -> tuple[Timing, Timing]:
    """Time *operation* bare and in a capture, alternately; seconds per one of *per*.

    Each traced repeat gets a fresh capture from *capture*, whose trace
    *check* inspects: the benchmark must measure recording, not a short cut.
    """

    def bare() -> float:
        assert_bare()
        return timed(operation, per)

    def traced() -> float:
        with capture() as trace:
            seconds = timed(operation, per)
        check(trace)
        return seconds

    return alternate(bare, traced, repeats)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def ns(seconds: float) -> str:
    return f"{seconds * 1e9:8.0f} ns"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def megabytes(size: float) -> str:
    return f"{size / MB:.1f} MB"


def print_timings(
    bare: Timing,
    traced: Timing,
    show: Callable[[float], str],
    per: str = "",
    labels: tuple[str, str] = ("bare", "traced"),
) -> None:
    """The bare and traced lines of a comparison: min (median), *per* what."""
    for label, timing in zip(labels, (bare, traced), strict=True):
        print(
            f"  {label + ':':10} {show(timing.best)} ({show(timing.median).strip()})"
            f"{' ' + per if per else ''}"
        )


# ---------------------------------------------------------------- requests


def make_handler(middleware: list[str]) -> WSGIHandler:
    """A WSGI handler with *middleware*, as a server builds it at start-up.

    With ``SignalTraceMiddleware`` in it, building it turns request tracing
    on for the whole process.
    """
    with override_settings(MIDDLEWARE=middleware):
        return WSGIHandler()


def environ(url: str) -> dict[str, Any]:
    """The WSGI environ of a GET of *url* from 127.0.0.1."""
    return RequestFactory().get(url).environ


def serve(handler: WSGIHandler, request_environ: dict[str, Any]) -> bytes:
    """One request as a server makes it: call, read the body, close.

    Closing the response sends ``request_finished``.
    """
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    response = handler(dict(request_environ), start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()
    if statuses != ["200 OK"]:
        raise AssertionError(f"{request_environ['PATH_INFO']}: {statuses}")
    return body


def tracing_off() -> None:
    """Turn request tracing off: requests then run as on bare Django."""
    request_scope.stop_request_tracing()
    assert not request_scope.is_request_tracing()


def leftover_query_wrappers() -> list[str]:
    """The connections that still hold signaltrace's query wrapper."""
    return [
        conn.alias
        for conn in connections.all(initialized_only=True)
        if queries._record in conn.execute_wrappers
    ]


# ---------------------------------------------------------------- sections


def bench_sends(repeats: int, method: str = "send") -> None:
    """ns per ``signal.<method>(sender=None, a=1)``, 0, 1 and 5 receivers."""
    sends = 20_000
    print(
        f"\nSignal.{method}(sender=None, a=1), {sends:,} sends per repeat, min (median)"
    )
    print(f"  {'receivers':>9}  {'bare':>20}  {'traced':>20}  {'added':>11}  ratio")
    added: dict[int, float] = {}
    for count in (0, 1, 5):
        signal = Signal()
        for receiver in RECEIVERS[:count]:
            signal.connect(receiver)

        def operation(signal: Signal = signal) -> None:
            send = getattr(signal, method)
            for _ in range(sends):
                send(sender=None, a=1)

        def check(trace: signaltrace.Trace, count: int = count) -> None:
            if count:
                assert len(trace.events) == sends, trace
                assert not trace.dropped, trace
                assert all(len(e.receivers) == count for e in trace.events)
            else:
                assert sum(trace.counts.values()) == sends, trace.counts

        bare, traced = compare(
            operation,
            sends,
            repeats,
            lambda: signaltrace.capture(max_events=sends),
            check,
        )
        added[count] = traced.best - bare.best
        print(
            f"  {count:>9}  {ns(bare.best)} ({ns(bare.median).strip():>7})"
            f"  {ns(traced.best)} ({ns(traced.median).strip():>7})"
            f"  {ns(added[count])}  {traced.best / bare.best:5.2f}x"
        )
    per_receiver = (added[5] - added[1]) / 4
    per_send = added[1] - per_receiver
    print(f"  added per send, no receiver:   {ns(added[0])} (counted, not stored)")
    for label, value, target in (
        ("per send (fixed part)", per_send, TARGET_PER_SEND),
        ("per receiver call", per_receiver, TARGET_PER_RECEIVER),
    ):
        passed = value <= target
        result = judge(f"{method}: added {label}", us(value), us(target), passed)
        print(f"  added {label + ':':24} {ns(value)}, budget {us(target)}: {result}")
    for count in (1, 5):
        target = TARGET_PER_SEND + count * TARGET_PER_RECEIVER
        print(
            f"    {count} receivers: added {us(added[count])}, "
            f"budget {us(target)}: {verdict(added[count] <= target)}"
        )


def bench_post_save_shape(repeats: int) -> None:
    """A custom signal sent as ``Model.save()`` sends ``post_save``, one receiver."""
    sends = 20_000
    signal = Signal()
    signal.connect(no_op, sender=Note)
    instance = Note.objects.create(value=1)

    def operation() -> None:
        send = signal.send
        for _ in range(sends):
            send(
                sender=Note,
                instance=instance,
                created=True,
                update_fields=None,
                raw=False,
                using="default",
            )

    def check(trace: signaltrace.Trace) -> None:
        assert len(trace.events) == sends, trace
        assert all(len(e.receivers) == 1 for e in trace.events)
        # Described at the send: the trace holds text, not the instance.
        described = trace.events[-1].kwargs["instance"]
        assert isinstance(described, str), described

    bare, traced = compare(
        operation, sends, repeats, lambda: signaltrace.capture(max_events=sends), check
    )
    added = traced.best - bare.best
    print(
        f"\nsignal.send(sender=Note, instance=<saved Note>, created=True, "
        f"update_fields=None, raw=False, using='default'), one receiver, "
        f"{sends:,} sends per repeat, min (median)"
    )
    print_timings(bare, traced, ns, "per send")
    print(f"  added: {ns(added)} per send, ratio {traced.best / bare.best:.2f}x")
    result = judge(
        "post_save-shaped send: added per send",
        us(added),
        us(TARGET_POST_SAVE_SEND),
        added <= TARGET_POST_SAVE_SEND,
    )
    print(f"  budget: at most {us(TARGET_POST_SAVE_SEND)} added per send: {result}")


def bench_queryset(repeats: int) -> None:
    """Evaluating 10,000 rows: two no-receiver sends per row."""
    rows = 10_000

    def operation() -> None:
        assert len(list(Row.objects.all())) == rows

    def check(trace: signaltrace.Trace) -> None:
        assert sum(trace.counts.values()) == 2 * rows, trace.counts
        assert not trace.events

    bare, traced = compare(operation, 1, repeats, signaltrace.capture, check)
    ratio = traced.best / bare.best
    print(f"\nEvaluating a {rows:,}-row queryset, min (median)")
    print_timings(bare, traced, ms)
    print(
        f"  added:   {ms(traced.best - bare.best)}, "
        f"{(traced.best - bare.best) / rows * 1e9:.0f} ns per row "
        f"(2 sends counted per row), ratio {ratio:.2f}x"
    )
    result = judge(
        "10,000-row queryset: ratio",
        f"{ratio:.2f}x",
        f"{TARGET_QUERYSET_RATIO:.2f}x",
        ratio <= TARGET_QUERYSET_RATIO,
    )
    print(f"  budget: at most {TARGET_QUERYSET_RATIO - 1:.0%} added: {result}")


def bench_saves(repeats: int) -> None:
    """``Model.objects.create()`` with one ``post_save`` receiver: a realistic mix."""
    saves = 2_000
    post_save.connect(no_op, sender=Note)

    def operation() -> None:
        for value in range(saves):
            Note.objects.create(value=value)

    def check(trace: signaltrace.Trace) -> None:
        assert len(trace.events) == saves, trace  # post_save, received
        assert sum(trace.counts.values()) == 3 * saves, trace.counts

    try:
        bare, traced = compare(operation, saves, repeats, signaltrace.capture, check)
    finally:
        post_save.disconnect(no_op, sender=Note)
    print(
        f"\nNote.objects.create(), {saves:,} per repeat, one post_save receiver "
        "(4 sends: 1 recorded, 3 counted), min (median)"
    )
    print_timings(bare, traced, ns, "per create")
    print(
        f"  added:   {ns(traced.best - bare.best)} per create, "
        f"ratio {traced.best / bare.best:.2f}x (no budget)"
    )


def bench_instances(repeats: int) -> None:
    """100,000 instantiations: time, and the trace's memory stays bounded."""
    instances = 100_000

    def operation() -> None:
        for value in range(instances):
            Row(name="row", value=value)

    def check(trace: signaltrace.Trace) -> None:
        assert sum(trace.counts.values()) == 2 * instances, trace.counts

    bare, traced = compare(operation, 1, repeats, signaltrace.capture, check)
    print(f"\nInstantiating {instances:,} models (pre_init + post_init), min (median)")
    print_timings(bare, traced, ms)
    print(
        f"  added:   {(traced.best - bare.best) / instances * 1e9:.0f} ns per "
        f"instance, ratio {traced.best / bare.best:.2f}x (no budget)"
    )
    print("  memory (tracemalloc peak above the start, instances not kept):")
    captures: list[tuple[str, Callable[[], Any]]] = [
        ("bare", nullcontext),
        ("traced, default", signaltrace.capture),
        (
            "traced, record_unreceived=True",
            lambda: signaltrace.capture(record_unreceived=True),
        ),
    ]
    for label, make in captures:

        def run(make: Callable[[], Any] = make) -> Any:
            with make() as trace:
                operation()
            return trace

        peak, trace = peak_memory(run)
        detail = ""
        if trace is not None:
            detail = (
                f": {len(trace.events):,} events stored, "
                f"{trace.dropped:,} dropped, "
                f"{sum(trace.counts.values()):,} counted"
            )
        print(f"    {label + ':':32} {peak / 1024:9,.0f} KiB{detail}")
        del trace


def bench_outside(repeats: int) -> None:
    """A send outside any request, request tracing on, against it never started.

    "On" is the state a server is in between requests: a handler with
    ``SignalTraceMiddleware`` and the toolbar with ``SignalTracePanel`` was
    built and has served a request. "Off" is bare Django: the first "off"
    repeat comes before any traced handler was ever built (the sections
    before this one build none), the later ones after
    ``stop_request_tracing()``.
    """
    sends = 20_000
    signal = Signal()
    signal.connect(receiver_1)
    leftovers: list[str] = []
    wrapped_methods: list[str] = []
    probes: list[dict[str, bool]] = []
    probe_environ = environ("/probe/")
    page_environ = environ("/page/")
    post_save.connect(no_op, sender=Item)

    def operation() -> None:
        send = signal.send
        for _ in range(sends):
            send(sender=None, a=1)

    def check_between_requests() -> None:
        leftovers.extend(leftover_query_wrappers())
        try:
            assert_bare()
        except AssertionError as error:
            wrapped_methods.append(str(error))

    def off() -> float:
        tracing_off()
        check_between_requests()
        return timed(operation, sends)

    def on() -> float:
        with override_settings(
            DEBUG=True, DEBUG_TOOLBAR_PANELS=[*PANELS_DEFAULTS, PANEL]
        ):
            handler = make_handler([MIDDLEWARE, TOOLBAR_MIDDLEWARE])
            SignalTracePanel.ready()  # as the toolbar's app does at start-up
            probed.clear()
            serve(handler, probe_environ)
            probes.append(dict(probed))
            serve(handler, page_environ)
        assert request_scope.is_request_tracing()
        check_between_requests()
        return timed(operation, sends)

    try:
        # Warmed up by hand: the first timed "off" repeat must come before
        # request tracing was ever turned on (in a full run and alone).
        operation()
        bare, traced = alternate(off, on, repeats, warm_up=False)
    finally:
        post_save.disconnect(no_op, sender=Item)
        tracing_off()
        history.clear()
        get_store().clear()
        Item.objects.all().delete()
    added = traced.best - bare.best
    print(
        f"\nOutside any request: signal.send(sender=None, a=1), one receiver, "
        f"{sends:,} sends per repeat, min (median)"
    )
    print_timings(bare, traced, ns, "per send", ("off", "on"))
    print(
        "  (off: request tracing never started, or stopped; on: the middleware "
        "and the panel loaded, between requests)"
    )
    print(f"  added: {ns(added)} per send")
    result = judge(
        "outside requests: added per send",
        us(added),
        us(TARGET_OUTSIDE_SEND),
        added <= TARGET_OUTSIDE_SEND,
    )
    print(f"  budget: at most {us(TARGET_OUTSIDE_SEND)} added per send: {result}")
    in_request = all(p == {"installed": True, "query_wrapper": True} for p in probes)
    print(
        "  during a request the recorder and the query wrapper were in: "
        f"{verdict(in_request)}"
    )
    result = judge(
        "outside requests: Signal's methods are Django's",
        wrapped_methods[0] if wrapped_methods else "yes",
        "yes",
        not wrapped_methods,
    )
    print(f"  between requests Signal.send and the others are Django's own: {result}")
    result = judge(
        "outside requests: no query wrapper left",
        ", ".join(sorted(set(leftovers))) or "none left",
        "none left",
        not leftovers,
    )
    print(
        "  between requests no connection holds signaltrace.queries._record "
        f"in execute_wrappers: {result}"
    )


def bench_request(repeats: int) -> None:
    """A request creating 100 rows, with and without ``SignalTraceMiddleware``."""
    requests = 20
    request_environ = environ("/create/")
    post_save.connect(no_op, sender=Item)

    def batch(handler: WSGIHandler) -> float:
        return timed(
            lambda: [serve(handler, request_environ) for _ in range(requests)],
            requests,
        )

    def bare() -> float:
        tracing_off()
        handler = make_handler([])
        seconds = batch(handler)
        assert not history.entries()
        Item.objects.all().delete()
        return seconds

    def traced() -> float:
        handler = make_handler([MIDDLEWARE])
        seconds = batch(handler)
        entries = history.entries()
        assert len(entries) == requests, entries
        for entry in entries:
            saves = [e for e in entry.trace.events if e.signal is post_save]
            assert len(saves) == ITEMS_PER_REQUEST, entry.trace
            assert all(len(e.receivers) == 1 for e in saves)
        history.clear()
        Item.objects.all().delete()
        return seconds

    try:
        bare_timing, traced_timing = alternate(bare, traced, repeats)
    finally:
        post_save.disconnect(no_op, sender=Item)
        tracing_off()
        history.clear()
    ratio = traced_timing.best / bare_timing.best
    print(
        f"\nA request creating {ITEMS_PER_REQUEST} rows in transaction.atomic(), "
        f"one post_save receiver, {requests} requests per repeat, min (median)"
    )
    print_timings(bare_timing, traced_timing, ms, "per request")
    print(
        f"  added: {ms(traced_timing.best - bare_timing.best).strip()} per request, "
        f"ratio {ratio:.2f}x"
    )
    result = judge(
        "request through SignalTraceMiddleware: ratio",
        f"{ratio:.2f}x",
        f"{TARGET_REQUEST_RATIO:.2f}x",
        ratio <= TARGET_REQUEST_RATIO,
    )
    print(f"  budget: at most {TARGET_REQUEST_RATIO:.2f}x: {result}")


def peak_memory(operation: Callable[[], T]) -> tuple[int, T]:
    """The ``tracemalloc`` peak while *operation* runs, above where it started.

    Returned with what *operation* returned, which is still alive then.
    """
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        result = operation()
        return tracemalloc.get_traced_memory()[1] - baseline, result
    finally:
        tracemalloc.stop()


def bench_memory(repeats: int) -> None:
    """200 fresh 1 MB values sent in one request: the trace keeps none of them.

    Measured once each way (after a request to warm up): a peak is not noisy.
    """
    request_environ = environ("/payloads/")
    payload_sent.connect(no_op)
    try:
        tracing_off()
        bare_handler = make_handler([])
        serve(bare_handler, request_environ)  # warm up
        bare, _ = peak_memory(lambda: serve(bare_handler, request_environ))
        traced_handler = make_handler([MIDDLEWARE])
        serve(traced_handler, request_environ)  # warm up
        history.clear()
        traced, _ = peak_memory(lambda: serve(traced_handler, request_environ))
        [entry] = history.entries()
        sends = [e for e in entry.trace.events if e.signal is payload_sent]
        assert len(sends) == PAYLOADS, entry.trace
    finally:
        payload_sent.disconnect(no_op)
        tracing_off()
        history.clear()
    print(
        f"\nOne request sending {PAYLOADS} fresh {megabytes(MB)} values to one "
        "receiver (tracemalloc peak above the start; MB: 2**20 bytes)"
    )
    print(f"  bare:   {megabytes(bare):>9}")
    print(
        f"  traced: {megabytes(traced):>9} ({len(sends)} sends recorded, the "
        f"trace kept in the history: about {entry.size / 1024:,.0f} KiB)"
    )
    difference = traced - bare
    print(f"  difference: {megabytes(difference)}")
    result = judge(
        "memory of 200 x 1 MB sends in a request: added peak",
        megabytes(difference),
        megabytes(TARGET_MEMORY),
        difference <= TARGET_MEMORY,
    )
    print(f"  budget: at most {megabytes(TARGET_MEMORY)} above bare: {result}")


def check_panel_stats() -> None:
    """Fail unless the panel stored each page's finished trace, with stacks."""
    store = get_store()
    for request_id in store.request_ids():
        stats = store.panel(request_id, "SignalTracePanel")
        assert stats.get("complete"), (
            f"SignalTracePanel stored no finished trace, only {sorted(stats)}"
        )
        saves = [
            event
            for event in stats["trace"]["events"]
            if event["signal"] == "django.db.models.signals.post_save"
        ]
        assert len(saves) == ITEMS_PER_PAGE, stats
        assert all(event["stack"] for event in saves), saves


def bench_toolbar(repeats: int) -> None:
    """A page through the toolbar, with and without ``SignalTracePanel``."""
    requests = 5
    page_environ = environ("/page/")
    post_save.connect(no_op, sender=Item)

    def batch(panels: list[str], traced: bool) -> float:
        # The toolbar reads its panel classes at each request, from a cache
        # that changing DEBUG_TOOLBAR_PANELS empties (its setting_changed).
        with override_settings(DEBUG_TOOLBAR_PANELS=panels):
            if traced:
                SignalTracePanel.ready()  # as the toolbar's app does at start-up
            else:
                tracing_off()
            handler = make_handler([TOOLBAR_MIDDLEWARE])
            bodies: list[bytes] = []
            seconds = timed(
                lambda: bodies.extend(
                    serve(handler, page_environ) for _ in range(requests)
                ),
                requests,
            )
        for body in bodies:
            assert b'id="djDebug"' in body, body[-500:]
            assert (b"SignalTracePanel" in body) == traced, body[-500:]
        if traced:
            check_panel_stats()
        get_store().clear()
        Item.objects.all().delete()
        return seconds

    try:
        with override_settings(DEBUG=True):
            bare, traced = alternate(
                lambda: batch(list(PANELS_DEFAULTS), traced=False),
                lambda: batch([*PANELS_DEFAULTS, PANEL], traced=True),
                repeats,
            )
    finally:
        post_save.disconnect(no_op, sender=Item)
        tracing_off()
        history.clear()
    ratio = traced.best / bare.best
    print(
        f"\nA page through django-debug-toolbar (default panels, stack traces on), "
        f"creating {ITEMS_PER_PAGE} rows and rendering a template, "
        f"{requests} requests per repeat, min (median)"
    )
    print_timings(bare, traced, ms, "per page")
    print(
        f"  (bare: the toolbar without SignalTracePanel; traced: with it)\n"
        f"  added: {ms(traced.best - bare.best).strip()} per page, ratio {ratio:.2f}x"
    )
    result = judge(
        "toolbar with SignalTracePanel: ratio",
        f"{ratio:.2f}x",
        f"{TARGET_TOOLBAR_RATIO:.2f}x",
        ratio <= TARGET_TOOLBAR_RATIO,
    )
    print(f"  budget: at most {TARGET_TOOLBAR_RATIO:.2f}x: {result}")


#: The sections, in the order a full run takes them: "outside" before any
#: other section builds a traced handler.
SECTIONS: dict[str, Callable[[int], None]] = {
    "send": bench_sends,
    "send_robust": lambda repeats: bench_sends(repeats, "send_robust"),
    "post_save": bench_post_save_shape,
    "queryset": bench_queryset,
    "create": bench_saves,
    "instances": lambda repeats: bench_instances(max(3, repeats // 2)),
    "outside": bench_outside,
    "request": bench_request,
    "memory": bench_memory,
    "toolbar": bench_toolbar,
}


def print_summary() -> None:
    """Every budget of the run, its measured value and verdict."""
    if not BUDGETS:
        return
    width = max(len(budget.name) for budget in BUDGETS)
    print("\nSummary (verdicts on the minimum)")
    print(f"  {'budget':{width}}  {'measured':>10}  {'at most':>9}")
    for budget in BUDGETS:
        print(
            f"  {budget.name:{width}}  {budget.measured:>10}  {budget.target:>9}  "
            f"{verdict(budget.passed)}"
        )
    missed = sum(not budget.passed for budget in BUDGETS)
    print(f"  {len(BUDGETS) - missed} of {len(BUDGETS)} budgets met")


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--repeat", type=int, default=9, help="repeats per measurement (default 9)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SECTIONS),
        metavar="NAME",
        help=f"run only this section (may be repeated): {', '.join(SECTIONS)}",
    )
    options = parser.parse_args(argv)

    with connection.schema_editor() as editor:
        for model in (Row, Note, Item):
            editor.create_model(model)
    Row.objects.bulk_create(Row(name=f"row {n}", value=n) for n in range(10_000))

    print(
        f"signaltrace {signaltrace.__version__} overhead: "
        f"Django {django.get_version()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    print(f"  signaltrace from {Path(signaltrace.__file__).parent}")
    assert_bare()
    print("No capture active: Signal.send, send_robust, asend, asend_robust are")
    installed = install.is_installed()
    print(f"  Django's own functions: PASS (wrappers installed: {installed})")

    for name, section in SECTIONS.items():
        if options.only is None or name in options.only:
            section(options.repeat)

    assert_bare()
    print("\nAfter the last measurement: Signal's methods are Django's own: PASS")
    print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
