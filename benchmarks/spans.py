"""What the OpenTelemetry export costs, against bare Django and sentry-sdk's spans.

Run ``python benchmarks/spans.py`` (``--repeat N`` sets the repeats).
It configures its own settings and times ``signal.send(sender=None, a=1)`` of
a custom ``Signal`` with 0, 1 and 5 module-level no-op receivers, in five
configurations, side by side in one run:

- (a) bare Django: ``Signal``'s methods are Django's own;
- (b) the export on (``signaltrace.opentelemetry.enable()``, as
  ``SIGNALTRACE["OPENTELEMETRY"]`` does at start-up), no current span: what
  every send of a process that exports pays;
- (c) the export on, inside a recording span of the OpenTelemetry SDK (a
  ``TracerProvider`` with a ``SimpleSpanProcessor`` and an exporter that
  drops the spans): a span per send and per receiver call;
- (d) sentry-sdk's signal spans (``DjangoIntegration(signals_spans=True)``,
  ``traces_sample_rate=1.0``, a transport that drops every envelope), inside
  a transaction started and sent outside the timed run: a span per sync
  receiver call, as it runs; and (d) again with a transaction per 100 sends
  started and sent in the timed run, which counts sentry-sdk's serializing
  its spans when the transaction ends.

(c) makes a root span per 100 sends, in the timed run. From 1 and 5
receivers it works out the time added per receiver call and per send (the
fixed part); it also times one span of (c)'s SDK set-up made by hand, the
floor of (c)'s receiver call. Budgets: (b) at most 0.3 µs added per send;
(c) less added per receiver call than (d).

sentry-sdk patches ``Signal._live_receivers`` for good when it starts: its
function is taken off at once and put back for (d) only, and the export is
off meanwhile, so that each configuration runs alone. Each configuration is
timed in turn, repeatedly (drift hits all five), with the garbage collector
paused as ``timeit`` does; the report gives the minimum (used for the
verdicts) and the median. The exit status is 0 whatever the verdicts.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from importlib.metadata import version
from time import perf_counter
from typing import Any

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="signaltrace-opentelemetry",
    INSTALLED_APPS=["signaltrace"],
    DATABASES={},
)
django.setup()

import sentry_sdk  # noqa: E402
from django.dispatch import Signal  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from sentry_sdk.integrations.django import DjangoIntegration  # noqa: E402
from sentry_sdk.transport import Transport  # noqa: E402
from timing import Timing  # noqa: E402

import signaltrace  # noqa: E402
from signaltrace import opentelemetry  # noqa: E402

#: Django's own methods, before anything could wrap them.
DJANGOS = {
    name: Signal.__dict__[name]
    for name in ("send", "send_robust", "asend", "asend_robust", "_live_receivers")
    if name in Signal.__dict__
}

#: The budgets: seconds added per send with no current span; (c)'s added
#: time per receiver call must be below (d)'s.
TARGET_NO_SPAN = 0.3e-6

RECEIVER_COUNTS = (0, 1, 5)
#: Sends per timed run: many where a send costs about a microsecond, fewer
#: where it makes spans.
CHEAP_SENDS = 20_000
SPANNED_SENDS = 2_000
#: Sends per root span or transaction: 500 receiver spans at most, within
#: sentry-sdk's default max_spans (1,000), beyond which it drops them unsent.
BATCH = 100


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


RECEIVERS = [receiver_1, receiver_2, receiver_3, receiver_4, receiver_5]


# ------------------------------------------------------ the span makers


class CountingExporter(SpanExporter):
    """Drops the spans, counting them: a run must have made them."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


#: How many spans sentry-sdk serialized (``before_send_transaction``).
SENTRY_SPANS = [0]


def count_sentry_spans(event: Any, hint: Any) -> Any:
    """Count the spans of each transaction sentry-sdk is about to send."""
    SENTRY_SPANS[0] += len(event.get("spans", ()))
    return event


class DroppingTransport(Transport):
    """sentry-sdk's transport, sending nothing anywhere."""

    def capture_envelope(self, envelope: Any) -> None:
        pass


EXPORTER = CountingExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
# As a project does at start-up: the export takes its tracer from here.
trace.set_tracer_provider(PROVIDER)
TRACER = trace.get_tracer("benchmark")

sentry_sdk.init(
    dsn="https://public@o0.ingest.sentry.io/0",
    traces_sample_rate=1.0,
    integrations=[DjangoIntegration(signals_spans=True)],
    default_integrations=False,
    auto_enabling_integrations=False,
    transport=DroppingTransport,
    before_send_transaction=count_sentry_spans,
)
SENTRY_LIVE_RECEIVERS = Signal.__dict__["_live_receivers"]
if SENTRY_LIVE_RECEIVERS is DJANGOS["_live_receivers"]:
    raise AssertionError("sentry-sdk did not patch Signal._live_receivers")
Signal._live_receivers = DJANGOS["_live_receivers"]  # type: ignore[method-assign]


def assert_bare() -> None:
    """Fail unless every method of ``Signal`` is Django's own."""
    for name, function in DJANGOS.items():
        if Signal.__dict__[name] is not function:
            raise AssertionError(f"Signal.{name} is not Django's own function")


# Each configuration is set up around one timed run of *sends* sends to
# *receivers* receivers, and checks that the run made the spans it should: a
# short cut cannot pass for a fast recorder. Within the run, every BATCH sends
# go into a root of their own (a span, a transaction), started and finished
# in the timed run, as a request's would be: sentry-sdk serializes its spans
# when the transaction finishes, the SDK hands each span to its processor when
# it ends.


@contextmanager
def bare(sends: int, receivers: int) -> Iterator[None]:
    assert_bare()
    yield


@contextmanager
def no_span(sends: int, receivers: int) -> Iterator[None]:
    opentelemetry.enable()
    before = EXPORTER.count
    try:
        yield
    finally:
        opentelemetry.disable()
    if EXPORTER.count != before:
        raise AssertionError("(b) exported spans")


@contextmanager
def spanned(sends: int, receivers: int) -> Iterator[None]:
    opentelemetry.enable()
    before = EXPORTER.count
    try:
        yield
    finally:
        opentelemetry.disable()
    # A span per send and per receiver call (none for a send no receiver
    # gets), and the roots.
    expected = sends * (1 + receivers) if receivers else 0
    if EXPORTER.count - before != expected + sends // BATCH:
        raise AssertionError(f"(c) exported {EXPORTER.count - before} spans")


def in_span() -> AbstractContextManager[Any]:
    return TRACER.start_as_current_span("request")


@contextmanager
def in_one_transaction(sends: int, receivers: int) -> Iterator[None]:
    """sentry-sdk's spans, the transaction they go to started and sent untimed."""
    Signal._live_receivers = SENTRY_LIVE_RECEIVERS  # type: ignore[method-assign]
    try:
        with sentry_sdk.start_transaction(name="request", op="http.server") as root:
            # Kept up to max_spans, then counted; let go of when it finishes.
            recorder = root._span_recorder
            yield
    finally:
        Signal._live_receivers = DJANGOS["_live_receivers"]  # type: ignore[method-assign]
    made = len(recorder.spans) + recorder.dropped_spans if recorder else 0
    if made != sends * receivers:
        raise AssertionError(f"(d) made {made} spans")


@contextmanager
def sentry_on(sends: int, receivers: int) -> Iterator[None]:
    """sentry-sdk's spans, in transactions started and sent in the timed run."""
    Signal._live_receivers = SENTRY_LIVE_RECEIVERS  # type: ignore[method-assign]
    before = SENTRY_SPANS[0]
    try:
        yield
    finally:
        Signal._live_receivers = DJANGOS["_live_receivers"]  # type: ignore[method-assign]
    if SENTRY_SPANS[0] - before != sends * receivers:
        raise AssertionError(f"(d) sent {SENTRY_SPANS[0] - before} spans")


def in_transaction() -> AbstractContextManager[Any]:
    return sentry_sdk.start_transaction(name="request", op="http.server")


@dataclass
class Configuration:
    label: str
    #: Set up around a timed run (not timed).
    setting_up: Callable[[int, int], AbstractContextManager[None]]
    #: The root each batch of sends runs in (timed).
    root: Callable[[], AbstractContextManager[Any]]
    sends: int


CONFIGURATIONS = {
    "a": Configuration("(a) bare Django", bare, nullcontext, CHEAP_SENDS),
    "b": Configuration("(b) export on, no span", no_span, nullcontext, CHEAP_SENDS),
    "c": Configuration("(c) export on, in a span", spanned, in_span, SPANNED_SENDS),
    "d": Configuration(
        "(d) sentry-sdk, in a transaction",
        in_one_transaction,
        nullcontext,
        SPANNED_SENDS,
    ),
    "d+": Configuration(
        "(d) + sending the transaction", sentry_on, in_transaction, SPANNED_SENDS
    ),
}


# ----------------------------------------------------------------- timing


def timed_sends(
    signal: Signal, sends: int, root: Callable[[], AbstractContextManager[Any]]
) -> float:
    """Seconds per ``signal.send(sender=None, a=1)``, garbage collector paused.

    In batches of BATCH sends, each inside a new *root*.
    """
    send = signal.send
    batch = range(BATCH)
    gc.collect()
    gc.disable()
    try:
        started = perf_counter()
        for _ in range(sends // BATCH):
            with root():
                for _ in batch:
                    send(sender=None, a=1)
        return (perf_counter() - started) / sends
    finally:
        gc.enable()


def measure(repeats: int) -> dict[tuple[str, int], Timing]:
    """Every configuration with every receiver count, in turn, *repeats* times."""
    signals = {}
    for count in RECEIVER_COUNTS:
        signal = signals[count] = Signal()
        for receiver in RECEIVERS[:count]:
            signal.connect(receiver)
    samples: dict[tuple[str, int], list[float]] = {
        (key, count): [] for key in CONFIGURATIONS for count in RECEIVER_COUNTS
    }
    for repeat in range(repeats + 1):  # the first one warms up, untimed
        for key, configuration in CONFIGURATIONS.items():
            for count, signal in signals.items():
                with configuration.setting_up(configuration.sends, count):
                    seconds = timed_sends(
                        signal, configuration.sends, configuration.root
                    )
                if repeat:
                    samples[key, count].append(seconds)
    return {key: Timing(values) for key, values in samples.items()}


def one_sdk_span(repeats: int) -> Timing:
    """Seconds per span of the same SDK set-up, started and ended by hand.

    With a parent, a start and end time and three attributes, as the export
    makes a receiver call's span: what (c) pays the SDK per receiver call.
    """
    spans = SPANNED_SENDS * 5
    attributes = {
        "code.function.name": "benchmarks.receiver_1",
        "code.file.path": __file__,
        "code.line.number": 1,
    }
    samples = []
    with TRACER.start_as_current_span("request"):
        for _ in range(repeats):
            gc.collect()
            gc.disable()
            try:
                started = perf_counter()
                for _ in range(spans):
                    span = TRACER.start_span(
                        "receiver", attributes=attributes, start_time=1
                    )
                    span.end(end_time=2)
                samples.append((perf_counter() - started) / spans)
            finally:
                gc.enable()
    return Timing(samples)


# ----------------------------------------------------------------- report


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def report(timings: dict[tuple[str, int], Timing], sdk_span: Timing) -> None:
    """Print the table, the per receiver call costs and the verdicts."""
    print(
        f"\nsignal.send(sender=None, a=1), per send, min (median), ratio to (a); "
        f"{CHEAP_SENDS:,} sends per timed run for (a) and (b), "
        f"{SPANNED_SENDS:,} for the others, {BATCH} per root span or transaction"
    )
    width = 26
    print(
        f"  {'':<34}"
        + "".join(f"{f'{count} receivers':>{width}}" for count in RECEIVER_COUNTS)
    )
    for key, configuration in CONFIGURATIONS.items():
        cells = []
        for count in RECEIVER_COUNTS:
            timing = timings[key, count]
            cell = f"{us(timing.best)} ({timing.median * 1e6:.2f})"
            if key != "a":
                cell += f" {timing.best / timings['a', count].best:5.1f}x"
            cells.append(f"{cell:>{width}}")
        print(f"  {configuration.label:<34}" + "".join(cells))

    def added(key: str, count: int) -> float:
        return timings[key, count].best - timings["a", count].best

    print("\nAdded to bare Django (minimums):")
    print(f"  {'':<34}{'no receiver':>14}{'fixed part':>14}{'per receiver call':>20}")
    per_receiver: dict[str, float] = {}
    for key in ("b", "c", "d", "d+"):
        per_receiver[key] = (added(key, 5) - added(key, 1)) / 4
        fixed = added(key, 1) - per_receiver[key]
        print(
            f"  {CONFIGURATIONS[key].label:<34}{us(added(key, 0)):>14}"
            f"{us(fixed):>14}{us(per_receiver[key]):>20}"
        )
    print(
        f"  one span of (c)'s SDK set-up, made by hand: "
        f"{us(sdk_span.best)} ({sdk_span.median * 1e6:.2f})"
    )

    print("\nBudgets:")
    for count in RECEIVER_COUNTS:
        value = added("b", count)
        print(
            f"  (b) added per send, {count} receivers: {us(value)}, "
            f"at most {us(TARGET_NO_SPAN)}: {verdict(value <= TARGET_NO_SPAN)}"
        )
    ours = per_receiver["c"]
    for key in ("d", "d+"):
        sentry = per_receiver[key]
        print(
            f"  (c) added per receiver call {us(ours)}, below "
            f"{CONFIGURATIONS[key].label.split(',')[0]}'s {us(sentry)} "
            f"({ours / sentry:.2f} of it): {verdict(ours < sentry)}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--repeat", type=int, default=9, help="repeats per measurement (default 9)"
    )
    options = parser.parse_args(argv)
    print(
        f"signaltrace {signaltrace.__version__}, OpenTelemetry export: "
        f"Django {django.get_version()}, Python {platform.python_version()}, "
        f"opentelemetry-sdk {version('opentelemetry-sdk')}, "
        f"sentry-sdk {version('sentry-sdk')}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    assert_bare()
    timings = measure(options.repeat)
    sdk_span = one_sdk_span(options.repeat)
    report(timings, sdk_span)
    assert_bare()
    print("\nAfter the last measurement: Signal's methods are Django's own: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
