"""What tracing costs: per send, per receiver call, per queryset row.

Run ``python benchmarks/overhead.py`` (``make benchmark``). It configures its
own settings (an in-memory SQLite database, one small model) and prints, bare
and with a ``signaltrace.capture()`` active:

- nanoseconds per ``send()`` of a custom ``Signal`` with 0, 1 and 5 no-op
  receivers, the time added per send and per receiver call;
- the same for ``send_robust()`` (on Django 4.2 its receivers run through
  proxies, see docs/how-it-works.rst, and it misses the targets);
- the time to evaluate a 10,000-row queryset (10,000 ``pre_init`` and
  ``post_init`` sends that reach no receiver: counted, not stored);
- the time of ``Model.objects.create()`` with one ``post_save`` receiver, the
  mix real code has (one recorded event and three counted sends per row);
- the time to instantiate 100,000 models, and the memory the trace takes
  meanwhile (``tracemalloc`` peak): bounded, because such sends are counted;
- that with no capture active ``Signal``'s methods are Django's own functions.

Each timing is repeated (bare and traced alternate, so drift hits both) and
reported as the minimum and the median; verdicts use the minimum, the least
noisy estimate on a busy machine. The garbage collector is paused while timing,
as ``timeit`` does. The targets are printed as PASS or MISS, but the exit
status is 0 either way: these numbers are for the docs, not a gate.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()

from django.db import connection, models  # noqa: E402
from django.db.models.signals import post_save  # noqa: E402
from django.dispatch import Signal  # noqa: E402

import signaltrace  # noqa: E402
from signaltrace import install  # noqa: E402

#: Django's own send methods, taken before any capture could wrap them.
ORIGINALS = {
    name: Signal.__dict__[name]
    for name in ("send", "send_robust", "asend", "asend_robust")
    if name in Signal.__dict__
}

#: The targets of the issue "Cost": added seconds per send, per receiver call,
#: and the largest ratio for evaluating the 10,000-row queryset.
TARGET_PER_SEND = 1e-6
TARGET_PER_RECEIVER = 0.5e-6
TARGET_QUERYSET_RATIO = 1.25


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


class Sender:
    """The sender of the custom signal."""


def no_op(sender: object, **kwargs: Any) -> None:
    """A receiver that does nothing, so that only dispatch is measured."""


def _receivers(count: int) -> list[Callable[..., None]]:
    # Distinct functions: Django keys receivers by identity.
    return [lambda sender, **kwargs: None for _ in range(count)]


@dataclass
class Timing:
    """Seconds per operation over several repeats."""

    samples: list[float]

    @property
    def best(self) -> float:
        """The minimum: the run least disturbed by the rest of the machine."""
        return min(self.samples)

    @property
    def median(self) -> float:
        """The median, to show how noisy the runs were."""
        return statistics.median(self.samples)


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Pause the garbage collector, as ``timeit`` does."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def assert_bare() -> None:
    """Fail unless ``Signal``'s methods are Django's own functions."""
    for name, function in ORIGINALS.items():
        if Signal.__dict__[name] is not function:
            raise AssertionError(f"Signal.{name} is not Django's own function")


def compare(
    operation: Callable[[], None],
    per: int,
    repeats: int,
    capture: Callable[[], Any],
    check: Callable[[signaltrace.Trace], None],
) -> tuple[Timing, Timing]:
    """Time *operation* bare and traced, alternately; seconds per one of *per*.

    Each traced repeat gets a fresh capture from *capture*, whose trace
    *check* inspects: the benchmark must measure recording, not a short cut.
    """
    bare: list[float] = []
    traced: list[float] = []
    operation()  # warm up caches (names, querysets, code paths) once
    with capture():
        operation()
    for _ in range(repeats):
        assert_bare()
        with quiet_gc():
            started = perf_counter()
            operation()
            bare.append((perf_counter() - started) / per)
        with capture() as trace, quiet_gc():
            started = perf_counter()
            operation()
            traced.append((perf_counter() - started) / per)
        check(trace)
        del trace
    return Timing(bare), Timing(traced)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def ns(seconds: float) -> str:
    return f"{seconds * 1e9:8.0f} ns"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms"


def bench_sends(repeats: int, method: str = "send") -> None:
    """ns per *method* call with 0, 1 and 5 receivers, and what tracing adds."""
    sends = 20_000
    print(f"\nSignal.{method}, {sends:,} sends per repeat, min (median)")
    print(f"  {'receivers':>9}  {'bare':>20}  {'traced':>20}  {'added':>11}  ratio")
    added: dict[int, float] = {}
    for count in (0, 1, 5):
        signal = Signal()
        receivers = _receivers(count)
        for receiver in receivers:
            signal.connect(receiver, sender=Sender)

        def operation(signal: Signal = signal) -> None:
            send = getattr(signal, method)
            for _ in range(sends):
                send(sender=Sender, value=1)

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
    print(f"  added per send (fixed part):   {ns(per_send)}")
    print(f"  added per receiver call:       {ns(per_receiver)}")
    print(f"  added per send, no receiver:   {ns(added[0])} (counted, not stored)")
    print("  targets: at most 1 µs per send plus 0.5 µs per receiver call")
    for count in (0, 1, 5):
        target = TARGET_PER_SEND + count * TARGET_PER_RECEIVER
        print(
            f"    {count} receivers: added {added[count] * 1e6:.2f} µs, "
            f"target {target * 1e6:.1f} µs: {verdict(added[count] <= target)}"
        )


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
    print(f"  bare:    {ms(bare.best)} ({ms(bare.median).strip()})")
    print(f"  traced:  {ms(traced.best)} ({ms(traced.median).strip()})")
    print(
        f"  added:   {ms(traced.best - bare.best)}, "
        f"{(traced.best - bare.best) / rows * 1e9:.0f} ns per row "
        f"(2 sends counted per row), ratio {ratio:.2f}x"
    )
    print(
        f"  target: at most {TARGET_QUERYSET_RATIO - 1:.0%} added: "
        f"{verdict(ratio <= TARGET_QUERYSET_RATIO)}"
    )


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

    bare, traced = compare(operation, saves, repeats, signaltrace.capture, check)
    post_save.disconnect(no_op, sender=Note)
    print(
        f"\nNote.objects.create(), {saves:,} per repeat, one post_save receiver "
        "(4 sends: 1 recorded, 3 counted), min (median)"
    )
    print(f"  bare:    {ns(bare.best)} ({ns(bare.median).strip()}) per create")
    print(f"  traced:  {ns(traced.best)} ({ns(traced.median).strip()}) per create")
    print(
        f"  added:   {ns(traced.best - bare.best)} per create, "
        f"ratio {traced.best / bare.best:.2f}x"
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
    print(f"  bare:    {ms(bare.best)} ({ms(bare.median).strip()})")
    print(f"  traced:  {ms(traced.best)} ({ms(traced.median).strip()})")
    print(
        f"  added:   {(traced.best - bare.best) / instances * 1e9:.0f} ns per "
        f"instance, ratio {traced.best / bare.best:.2f}x"
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
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            with make() as trace:
                operation()
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
        detail = ""
        if trace is not None:
            detail = (
                f": {len(trace.events):,} events stored, "
                f"{trace.dropped:,} dropped, "
                f"{sum(trace.counts.values()):,} counted"
            )
        print(f"    {label + ':':32} {peak / 1024:9,.0f} KiB{detail}")
        del trace


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--repeat", type=int, default=9, help="repeats per measurement (default 9)"
    )
    options = parser.parse_args(argv)

    with connection.schema_editor() as editor:
        editor.create_model(Row)
        editor.create_model(Note)
    Row.objects.bulk_create(Row(name=f"row {n}", value=n) for n in range(10_000))

    print(
        f"signaltrace {signaltrace.__version__} overhead: "
        f"Django {django.get_version()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    assert_bare()
    print("No capture active: Signal.send, send_robust, asend, asend_robust are")
    installed = install.is_installed()
    print(f"  Django's own functions: PASS (wrappers installed: {installed})")

    bench_sends(options.repeat)
    bench_sends(options.repeat, "send_robust")
    bench_queryset(options.repeat)
    bench_saves(options.repeat)
    bench_instances(max(3, options.repeat // 2))

    assert_bare()
    print("\nAfter the last capture: Signal's methods are Django's own again: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
