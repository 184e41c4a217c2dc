"""OpenTelemetry export: each send made while a span is recording becomes a span.

Spans go to an SDK ``TracerProvider`` of the test's own, with an in-memory
exporter (the global provider can be set once per process); the export is
pointed at it with ``set_tracer_provider()`` and turned on with ``enable()``,
as the app's ``ready()`` does with ``SIGNALTRACE["OPENTELEMETRY"]``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from unittest import mock

import django
import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_save
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode, Tracer

import signaltrace
from signaltrace import dispatch, failures, install, request_scope
from signaltrace import opentelemetry as otel
from signaltrace.conf import DEFAULTS
from signaltrace.history import history
from tests.app.models import Author

HAS_ASYNC = django.VERSION >= (5, 0)
needs_async = pytest.mark.skipif(not HAS_ASYNC, reason="async sends: Django 5.0+")
#: Django's own send methods, as they are with nothing installed.
DJANGOS = {
    name: Signal.__dict__[name]
    for name in ("send", "send_robust", "asend", "asend_robust")
    if name in Signal.__dict__
}

order_placed = Signal()
payment_taken = Signal()
unheard = Signal()
#: Sent by the concurrent async receivers below, each with itself as sender.
nested_sent = Signal()


class Failure(Exception):
    pass


def places_order(sender: object, **kwargs: Any) -> str:
    payment_taken.send(sender="shop", amount=3)
    return "placed"


def takes_payment(sender: object, **kwargs: Any) -> str:
    return "paid"


def fails(sender: object, **kwargs: Any) -> None:
    raise Failure("card password=hunter2 refused")


def sends_unheard(sender: object, **kwargs: Any) -> None:
    unheard.send(sender=None)


async def pays_async(sender: object, **kwargs: Any) -> str:
    await payment_taken.asend(sender="shop", amount=3)
    return "paid"


async def slow_nested(sender: object, **kwargs: Any) -> None:
    await asyncio.sleep(0.01)


async def first(sender: object, **kwargs: Any) -> None:
    await asyncio.sleep(0)
    await nested_sent.asend(sender="first")


async def second(sender: object, **kwargs: Any) -> None:
    await nested_sent.asend(sender="second")
    await asyncio.sleep(0)


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """A provider of the test's own, exporting to memory."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    yield provider
    provider.shutdown()


@pytest.fixture
def exported(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    """The export on, to *provider*; its exporter, to read the spans from."""
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.set_tracer_provider(provider)
    otel.enable()
    yield exporter
    otel.disable()
    otel.set_tracer_provider(None)


@pytest.fixture
def tracer(provider: TracerProvider) -> Tracer:
    """A tracer of *provider*: the test's own spans, as a user's code makes them."""
    return provider.get_tracer("tests")


@pytest.fixture
def shop() -> Iterator[None]:
    order_placed.connect(places_order)
    payment_taken.connect(takes_payment)
    yield
    order_placed.disconnect(places_order)
    payment_taken.disconnect(takes_payment)


@pytest.fixture(autouse=True)
def nothing_logged_yet() -> Iterator[None]:
    """Each test sees its failures logged: the log remembers them process-wide."""
    failures._logged.clear()
    yield
    failures._logged.clear()


def spans_of(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The spans exported, in the order they started."""
    return sorted(exporter.get_finished_spans(), key=lambda span: span.start_time)


def tree(spans: Sequence[ReadableSpan]) -> list[str]:
    """The spans as an indented outline of names, children under their parent."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {span.context.span_id for span in spans}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        by_parent.setdefault(parent if parent in ids else None, []).append(span)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in by_parent.get(parent, []):
            lines.append("  " * depth + span.name)
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return lines


def named(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = [span for span in spans if span.name == name]
    return span


def parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    (parent,) = [s for s in spans if s.context.span_id == span.parent.span_id]
    return parent


# ------------------------------------------------------------- the tree


@pytest.mark.usefixtures("shop")
def test_a_send_is_a_child_of_the_current_span_and_each_receiver_call_of_its_send(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        payment_taken.send(sender="shop", amount=3)

    assert tree(spans_of(exported)) == [
        "checkout",
        "  payment_taken",
        "    tests.test_opentelemetry.takes_payment",
    ]
    spans = spans_of(exported)
    assert {span.context.trace_id for span in spans} == {spans[0].context.trace_id}
    assert {span.kind for span in spans[1:]} == {SpanKind.INTERNAL}


@pytest.mark.usefixtures("shop")
def test_a_send_made_inside_a_receiver_is_a_child_of_that_receivers_span(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        order_placed.send(sender="shop")

    assert tree(spans_of(exported)) == [
        "checkout",
        "  order_placed",
        "    tests.test_opentelemetry.places_order",
        "      payment_taken",
        "        tests.test_opentelemetry.takes_payment",
    ]


@pytest.mark.usefixtures("shop")
def test_each_span_lies_within_its_parent(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        order_placed.send(sender="shop")

    spans = spans_of(exported)
    for span in spans[1:]:
        parent = parent_of(span, spans)
        assert span.start_time is not None
        assert span.end_time is not None
        assert parent.start_time is not None
        assert parent.end_time is not None
        assert parent.start_time <= span.start_time <= span.end_time
        assert span.end_time <= parent.end_time, f"{span.name} ends after its parent"


@pytest.mark.usefixtures("shop")
def test_consecutive_sends_are_siblings_under_the_current_span(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        payment_taken.send(sender="shop", amount=1)
        with tracer.start_as_current_span("step"):
            payment_taken.send(sender="shop", amount=2)

    assert tree(spans_of(exported)) == [
        "checkout",
        "  payment_taken",
        "    tests.test_opentelemetry.takes_payment",
        "  step",
        "    payment_taken",
        "      tests.test_opentelemetry.takes_payment",
    ]


# -------------------------------------------------- no span, no recording


@pytest.mark.usefixtures("shop")
def test_without_a_current_span_nothing_is_recorded_or_exported(
    exported: InMemorySpanExporter,
) -> None:
    with mock.patch.object(dispatch, "_begin", wraps=dispatch._begin) as begin:
        assert order_placed.send(sender="shop") == [(places_order, "placed")]

    assert begin.call_count == 0
    assert exported.get_finished_spans() == ()


@pytest.mark.usefixtures("shop")
def test_under_a_sampled_out_span_nothing_is_recorded_or_exported(
    exported: InMemorySpanExporter,
) -> None:
    sampled_out = TracerProvider(sampler=ALWAYS_OFF).get_tracer("tests")
    with (
        sampled_out.start_as_current_span("ignored") as span,
        mock.patch.object(dispatch, "_begin", wraps=dispatch._begin) as begin,
    ):
        assert not span.is_recording()
        assert order_placed.send(sender="shop") == [(places_order, "placed")]

    assert begin.call_count == 0
    assert exported.get_finished_spans() == ()


def test_a_send_no_receiver_gets_makes_no_span(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        assert unheard.send(sender=None) == []

    assert tree(spans_of(exported)) == ["checkout"]


def test_a_nested_send_no_receiver_gets_makes_no_span(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    order_placed.connect(sends_unheard)
    try:
        with (
            override_settings(SIGNALTRACE={"RECORD_UNRECEIVED": True}),
            tracer.start_as_current_span("checkout"),
        ):
            order_placed.send(sender=None)
    finally:
        order_placed.disconnect(sends_unheard)

    assert tree(spans_of(exported)) == [
        "checkout",
        "  order_placed",
        "    tests.test_opentelemetry.sends_unheard",
    ]


@pytest.mark.usefixtures("shop")
def test_disabled_signals_methods_are_djangos_own_again(
    exported: InMemorySpanExporter,
) -> None:
    assert install.is_installed()
    otel.disable()

    assert not otel.is_enabled()
    assert {name: Signal.__dict__[name] for name in DJANGOS} == DJANGOS
    otel.enable()  # for the fixture to disable
    assert otel.is_enabled()


# ------------------------------------------------------------ attributes


def test_a_send_span_names_the_signal_its_sender_method_and_line(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    receiver = mock.Mock(return_value=None)
    post_save.connect(receiver, sender=Author, weak=False)
    try:
        with tracer.start_as_current_span("checkout"):
            post_save.send_robust(sender=Author, instance=Author(pk=1), created=True)
            line = sys._getframe().f_lineno - 1
    finally:
        post_save.disconnect(receiver, sender=Author)

    span = named(spans_of(exported), "post_save")
    assert span.attributes == {
        "django.signal.name": "django.db.models.signals.post_save",
        "django.signal.sender": "tests.app.models.Author",
        "django.signal.method": "send_robust",
        "code.file.path": __file__,
        "code.line.number": line,
    }


@pytest.mark.usefixtures("shop")
def test_a_receiver_span_names_the_receiver_and_where_it_is_defined(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        payment_taken.send(sender="shop", amount=3)

    span = named(spans_of(exported), "tests.test_opentelemetry.takes_payment")
    assert span.attributes == {
        "code.function.name": "tests.test_opentelemetry.takes_payment",
        "code.file.path": __file__,
        "code.line.number": takes_payment.__code__.co_firstlineno,
    }
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.django_db
def test_a_receiver_span_counts_the_queries_the_call_ran(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    def counts_authors(sender: object, **kwargs: Any) -> int:
        return Author.objects.count() + Author.objects.filter(name="ada").count()

    order_placed.connect(counts_authors)
    try:
        with tracer.start_as_current_span("checkout"):
            order_placed.send(sender=None)
    finally:
        order_placed.disconnect(counts_authors)

    spans = spans_of(exported)
    call = next(span for span in spans if span.name.endswith("counts_authors"))
    assert call.attributes is not None
    assert call.attributes["django.signal.receiver.query_count"] == 2
    assert call.attributes["django.signal.receiver.query_duration_ms"] > 0
    assert "django.signal.receiver.query_count" not in (
        named(spans, "order_placed").attributes or {}
    )


@pytest.mark.usefixtures("shop")
def test_keyword_arguments_are_not_exported_by_default(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        payment_taken.send(sender="shop", amount=3, password="hunter2")

    attributes = named(spans_of(exported), "payment_taken").attributes or {}
    assert not [key for key in attributes if key.startswith("django.signal.kwargs")]


@pytest.mark.usefixtures("shop")
@override_settings(SIGNALTRACE={"OPENTELEMETRY_KWARGS": True})
def test_keyword_arguments_are_exported_masked_with_opentelemetry_kwargs(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        payment_taken.send(
            sender="shop", amount=3, password="hunter2", note=None, author=Author(pk=7)
        )

    attributes = named(spans_of(exported), "payment_taken").attributes or {}
    assert {
        key: value
        for key, value in attributes.items()
        if key.startswith("django.signal.kwargs.")
    } == {
        "django.signal.kwargs.amount": 3,
        "django.signal.kwargs.password": DEFAULTS.MASK,
        "django.signal.kwargs.note": "None",
        "django.signal.kwargs.author": "<testapp.Author pk=7>",
    }


# ---------------------------------------------------------------- errors


def test_a_receiver_that_raised_has_status_error_and_the_exception_described(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    order_placed.connect(fails)
    try:
        with tracer.start_as_current_span("checkout"), pytest.raises(Failure):
            order_placed.send(sender=None)
    finally:
        order_placed.disconnect(fails)

    spans = spans_of(exported)
    for span in (
        named(spans, "tests.test_opentelemetry.fails"),
        named(spans, "order_placed"),
    ):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == (
            f"Failure: card password={DEFAULTS.MASK} refused"
        )
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes == {
            "exception.type": "tests.test_opentelemetry.Failure",
            "exception.message": f"card password={DEFAULTS.MASK} refused",
        }


@pytest.mark.usefixtures("shop")
def test_an_error_send_robust_caught_fails_the_receivers_span_only(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    order_placed.connect(fails)
    try:
        with tracer.start_as_current_span("checkout"):
            responses = order_placed.send_robust(sender=None)
    finally:
        order_placed.disconnect(fails)

    assert [receiver for receiver, _ in responses] == [places_order, fails]
    spans = spans_of(exported)
    failed = named(spans, "tests.test_opentelemetry.fails")
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    assert named(spans, "order_placed").status.status_code is StatusCode.UNSET
    assert named(spans, "payment_taken").status.status_code is StatusCode.UNSET


def test_a_builtin_exception_is_named_as_python_names_it(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    def divides(sender: object, **kwargs: Any) -> float:
        return 1 / 0

    order_placed.connect(divides)
    try:
        with tracer.start_as_current_span("checkout"):
            order_placed.send_robust(sender=None)
    finally:
        order_placed.disconnect(divides)

    span = next(s for s in spans_of(exported) if s.name.endswith("divides"))
    assert span.events[0].attributes == {
        "exception.type": "ZeroDivisionError",
        "exception.message": "division by zero",
    }


# -------------------------------------------------- the program unchanged


class Recorded:
    """Receivers that note their arguments, to compare bare and exported runs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def first(self, sender: object, **kwargs: Any) -> str:
        self.calls.append(("first", {"sender": sender, **kwargs}))
        return "first"

    def second(self, sender: object, **kwargs: Any) -> str:
        self.calls.append(("second", {"sender": sender, **kwargs}))
        raise Failure("second")


def _run_every_method(signal: Signal) -> list[Any]:
    """What a program sees of each send method: responses, or the exception."""
    seen: list[Any] = []
    for method in ("send", "send_robust", "asend", "asend_robust"):
        if not hasattr(signal, method):
            continue
        try:
            result = getattr(signal, method)(sender="shop", amount=3)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
            seen.append(result)
        except Failure as error:
            seen.append(error)
    return seen


def test_the_program_sees_what_it_sees_without_the_export(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    signal = Signal()
    receivers = Recorded()
    signal.connect(receivers.first)
    signal.connect(receivers.second)

    otel.disable()
    bare = _run_every_method(signal)
    bare_calls = list(receivers.calls)
    receivers.calls.clear()
    otel.enable()
    with tracer.start_as_current_span("checkout"):
        exported_run = _run_every_method(signal)

    assert receivers.calls == bare_calls
    assert len(exported_run) == len(bare)
    for seen, expected in zip(exported_run, bare, strict=True):
        if isinstance(expected, Failure):
            assert type(seen) is Failure
            assert seen.args == expected.args
            continue
        assert [receiver for receiver, _ in seen] == [r for r, _ in expected]
        assert [type(response) for _, response in seen] == [
            type(response) for _, response in expected
        ]
    assert len(spans_of(exported)) > 1


def test_the_exception_a_send_raises_is_the_receivers_own(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    raised = Failure("own")

    def raises(sender: object, **kwargs: Any) -> None:
        raise raised

    order_placed.connect(raises)
    try:
        with tracer.start_as_current_span("checkout"), pytest.raises(Failure) as info:
            order_placed.send(sender=None)
    finally:
        order_placed.disconnect(raises)

    assert info.value is raised


def test_weakly_connected_receivers_stay_weak(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    class Handler:
        def on_order(self, sender: object, **kwargs: Any) -> str:
            return "handled"

    handler = Handler()
    order_placed.connect(handler.on_order)
    with tracer.start_as_current_span("checkout"):
        assert order_placed.send(sender=None) == [(handler.on_order, "handled")]
    gone = weakref.ref(handler)
    del handler
    gc.collect()

    assert gone() is None
    assert not order_placed.has_listeners(None)


# ------------------------------------------------------------------ async


@needs_async
@pytest.mark.usefixtures("shop")
def test_async_sends_and_async_receivers_become_spans(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    order_placed.connect(pays_async)
    try:
        with tracer.start_as_current_span("checkout"):
            responses = asyncio.run(order_placed.asend_robust(sender=None))
    finally:
        order_placed.disconnect(pays_async)

    assert responses == [(places_order, "placed"), (pays_async, "paid")]
    spans = spans_of(exported)
    send = named(spans, "order_placed")
    assert parent_of(send, spans).name == "checkout"
    assert (send.attributes or {})["django.signal.method"] == "asend_robust"
    for receiver, method in (("places_order", "send"), ("pays_async", "asend")):
        call = named(spans, f"tests.test_opentelemetry.{receiver}")
        assert parent_of(call, spans) is send
        (payment,) = [
            span
            for span in spans
            if span.name == "payment_taken" and parent_of(span, spans) is call
        ]
        assert (payment.attributes or {})["django.signal.method"] == method
        assert [span.name for span in spans if span.parent == payment.context] == [
            "tests.test_opentelemetry.takes_payment"
        ]


@needs_async
def test_concurrent_async_receivers_each_parent_the_sends_they_make(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    """On Django 6.1 they run as tasks sharing one context; before, in gather()."""
    nested_sent.connect(slow_nested)
    order_placed.connect(first)
    order_placed.connect(second)
    try:
        with tracer.start_as_current_span("checkout"):
            asyncio.run(order_placed.asend(sender=None))
    finally:
        order_placed.disconnect(first)
        order_placed.disconnect(second)
        nested_sent.disconnect(slow_nested)

    spans = spans_of(exported)
    early, late = [span for span in spans if span.name == "nested_sent"]
    # The two nested sends ran at the same time.
    assert late.start_time is not None
    assert early.end_time is not None
    assert late.start_time < early.end_time
    for span in (early, late):
        sender = (span.attributes or {})["django.signal.sender"]
        assert parent_of(span, spans).name == (
            f"tests.test_opentelemetry.{sender.strip(chr(39))}"
        )


def test_a_send_made_after_the_exported_send_ended_is_exported_on_its_own(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    """A task a receiver started holds the send's context, and sends later."""
    later: list[asyncio.Task[None]] = []

    async def pays_later() -> None:
        await asyncio.sleep(0)
        payment_taken.send(sender="shop", amount=9)

    def schedules(sender: object, **kwargs: Any) -> None:
        later.append(asyncio.get_running_loop().create_task(pays_later()))

    async def main() -> None:
        order_placed.send(sender=None)
        await asyncio.gather(*later)

    order_placed.connect(schedules)
    payment_taken.connect(takes_payment)
    try:
        with tracer.start_as_current_span("checkout"):
            asyncio.run(main())
    finally:
        order_placed.disconnect(schedules)
        payment_taken.disconnect(takes_payment)

    assert tree(spans_of(exported)) == [
        "checkout",
        "  order_placed",
        "    tests.test_opentelemetry.test_a_send_made_after_the_exported_send_ended"
        "_is_exported_on_its_own.<locals>.schedules",
        "  payment_taken",
        "    tests.test_opentelemetry.takes_payment",
    ]


@pytest.mark.usefixtures("shop")
@override_settings(SIGNALTRACE={"MAX_EVENTS": 1})
def test_sends_beyond_max_events_are_counted_on_the_first_span(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with tracer.start_as_current_span("checkout"):
        order_placed.send(sender=None)

    spans = spans_of(exported)
    assert tree(spans) == [
        "checkout",
        "  order_placed",
        "    tests.test_opentelemetry.places_order",
    ]
    assert (named(spans, "order_placed").attributes or {})[
        "django.signal.dropped_sends"
    ] == 1


# ----------------------------------------------------------------- threads


@pytest.mark.usefixtures("shop")
def test_sends_from_a_thread_follow_the_threads_own_current_span(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    def job() -> None:
        payment_taken.send(sender="shop", amount=1)  # no span in this thread
        with tracer.start_as_current_span("job"):
            payment_taken.send(sender="shop", amount=2)

    with tracer.start_as_current_span("request"):
        worker = threading.Thread(target=job)
        worker.start()
        worker.join(30)

    assert tree(spans_of(exported)) == [
        "request",
        "job",
        "  payment_taken",
        "    tests.test_opentelemetry.takes_payment",
    ]


# ------------------------------------------ with captures and the middleware


@pytest.mark.usefixtures("shop")
def test_a_capture_and_the_export_both_record_the_sends(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    with signaltrace.capture() as trace, tracer.start_as_current_span("checkout"):
        order_placed.send(sender="shop", password="hunter2")

    assert [event.name.rpartition(".")[2] for event in trace.events] == [
        "order_placed",
        "payment_taken",
    ]
    assert trace.events[0].kwargs == {"password": DEFAULTS.MASK}
    assert trace.events[1].kwargs == {"amount": 3}
    assert len(spans_of(exported)) == 5


@pytest.mark.usefixtures("shop")
def test_a_capture_started_inside_an_exported_send_gets_the_keyword_arguments(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    traces: list[signaltrace.SignalTrace] = []

    def captures(sender: object, **kwargs: Any) -> None:
        with signaltrace.capture() as trace:
            payment_taken.send(sender="shop", amount=5)
        traces.append(trace)

    order_placed.connect(captures)
    try:
        with tracer.start_as_current_span("checkout"):
            order_placed.send(sender=None)
    finally:
        order_placed.disconnect(captures)

    (trace,) = traces
    assert [event.kwargs for event in trace.events] == [{"amount": 5}]
    assert tree(spans_of(exported))[-2:] == [
        "      payment_taken",
        "        tests.test_opentelemetry.takes_payment",
    ]


@pytest.mark.usefixtures("shop")
def test_a_send_inside_a_capture_and_a_span_begun_in_a_receiver_is_exported(
    exported: InMemorySpanExporter, tracer: Tracer
) -> None:
    def spans_a_step(sender: object, **kwargs: Any) -> None:
        with tracer.start_as_current_span("step"):
            payment_taken.send(sender="shop", amount=1)

    order_placed.disconnect(places_order)
    order_placed.connect(spans_a_step)
    try:
        with signaltrace.capture() as trace:
            order_placed.send(sender=None)
    finally:
        order_placed.disconnect(spans_a_step)

    assert len(trace.events) == 2
    assert tree(spans_of(exported)) == [
        "step",
        "  payment_taken",
        "    tests.test_opentelemetry.takes_payment",
    ]


def answer(request: HttpRequest) -> HttpResponse:
    """A view whose save sends post_save, to a receiver that sends again."""
    Author.objects.create(name="ada")
    return HttpResponse("saved")


urlpatterns = [path("answer/", answer)]


@pytest.fixture
def django_instrumented(provider: TracerProvider, settings: Any) -> Iterator[None]:
    """opentelemetry-instrumentation-django's request spans, to *provider*."""
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.django")
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = list(settings.MIDDLEWARE)  # it inserts its own
    instrumentor = instrumentation.DjangoInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield
    instrumentor.uninstrument()
    # What the middleware's first instance started.
    request_scope.stop_request_tracing()
    history.clear()


def on_author_saved(sender: object, **kwargs: Any) -> None:
    payment_taken.send(sender="shop", amount=1)


@pytest.mark.django_db
@pytest.mark.usefixtures("shop", "django_instrumented")
@pytest.mark.parametrize("middleware", [False, True], ids=["alone", "with middleware"])
def test_a_views_sends_are_children_of_the_request_span(
    exported: InMemorySpanExporter, settings: Any, middleware: bool
) -> None:
    if middleware:
        settings.MIDDLEWARE = [
            "signaltrace.middleware.SignalTraceMiddleware",
            *settings.MIDDLEWARE,
        ]
        settings.DEBUG = True
    post_save.connect(on_author_saved, sender=Author)
    try:
        response = Client().get("/answer/")
    finally:
        post_save.disconnect(on_author_saved, sender=Author)

    assert response.content == b"saved"
    spans = spans_of(exported)
    request = next(span for span in spans if span.kind is SpanKind.SERVER)
    assert tree(spans) == [
        request.name,
        "  post_save",
        "    tests.test_opentelemetry.on_author_saved",
        "      payment_taken",
        "        tests.test_opentelemetry.takes_payment",
    ]
    if middleware:
        trace = response.wsgi_request.signal_trace  # type: ignore[attr-defined]
        signals = [event.name for event in trace.events]
        assert "django.db.models.signals.post_save" in signals
        assert "tests.test_opentelemetry.payment_taken" in signals


# -------------------------------------------------- failures are contained


class RaisingProcessor(SpanProcessor):
    """A span processor that fails on every span of ours that ends."""

    def on_end(self, span: ReadableSpan) -> None:
        if span.instrumentation_scope and span.instrumentation_scope.name == (
            "signaltrace"
        ):
            raise RuntimeError("processor down")


class RaisingExporter(SpanExporter):
    """An exporter that fails on every export."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("collector down")


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    "processor",
    [RaisingProcessor, lambda: SimpleSpanProcessor(RaisingExporter())],
    ids=["processor", "exporter"],
)
def test_a_failing_exporter_never_reaches_the_program(
    exported: InMemorySpanExporter,
    provider: TracerProvider,
    tracer: Tracer,
    processor: Callable[[], SpanProcessor],
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider.add_span_processor(processor())
    caplog.set_level(logging.ERROR)
    with tracer.start_as_current_span("checkout"):
        for _ in range(2):
            assert order_placed.send(sender="shop") == [(places_order, "placed")]

    logged = [r.getMessage() for r in caplog.records if r.name == "signaltrace"]
    if processor is RaisingProcessor:
        assert logged == [
            "signaltrace failed while exporting spans; the program went on untouched"
        ]


def test_opentelemetrys_current_context_is_read_directly() -> None:
    read, key = otel._context_reader()
    assert key is not None, "opentelemetry-api changed: sends pay the public API"
    assert read() is otel_context.get_current()


@pytest.mark.usefixtures("shop")
def test_with_opentelemetrys_internals_out_of_reach_the_public_api_is_read(
    provider: TracerProvider, tracer: Tracer
) -> None:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.set_tracer_provider(provider)
    install._wrappers_of.cache_clear()  # spanning() is called anew
    public = (otel_context.get_current, None)
    with mock.patch.object(otel, "_context_reader", return_value=public):
        otel.enable()
    try:
        payment_taken.send(sender="shop", amount=1)
        with tracer.start_as_current_span("checkout"):
            payment_taken.send(sender="shop", amount=2)
    finally:
        otel.disable()
        otel.set_tracer_provider(None)
        install._wrappers_of.cache_clear()

    assert tree(spans_of(exporter)) == [
        "checkout",
        "  payment_taken",
        "    tests.test_opentelemetry.takes_payment",
    ]


# ------------------------------------------------------------ the setting


def test_the_app_turns_the_export_on_with_the_setting() -> None:
    config = apps.get_app_config("signaltrace")
    with override_settings(SIGNALTRACE={"OPENTELEMETRY": True}):
        config.ready()
    try:
        assert otel.is_enabled()
        assert Signal.send is not DJANGOS["send"]
    finally:
        otel.disable()
    assert Signal.send is DJANGOS["send"]


def test_the_app_says_what_to_install_without_opentelemetry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(signaltrace, "opentelemetry")
    monkeypatch.setitem(sys.modules, "signaltrace.opentelemetry", None)
    config = apps.get_app_config("signaltrace")
    with (
        override_settings(SIGNALTRACE={"OPENTELEMETRY": True}),
        pytest.raises(
            ImproperlyConfigured, match=r"django-signaltrace\[opentelemetry\]"
        ),
    ):
        config.ready()
    assert not otel.is_enabled()
