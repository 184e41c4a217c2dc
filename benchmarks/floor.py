"""The floor under the recording budgets: the least a Python wrapper can do to
record a send, next to bare Django and signaltrace, in one run.

Run ``python benchmarks/floor.py [--repeat N]``. It uses ``overhead.py``'s
set-up (settings, models, views) and times, alternately in one run:

- bare Django;
- the *least recorder* below: a wrapper of ``Signal.send`` that keeps one
  record per send (the signal, the sender and the keyword arguments as they
  were passed, the caller's code and instruction, the send it was made from
  through a context variable) and one per receiver call (its start and
  duration), and returns Django's pairs. It describes nothing, masks nothing,
  does not look for the project's line past the caller, contains no error,
  takes no recording time off a parent's duration: what no recorder can do
  without;
- the least recorder describing the sender and the keyword arguments
  (signaltrace's ``Describer``) and locating the send (signaltrace's walk to
  the project's line) at each send: what issue 12 asks of every send, and
  nothing more;
- ``signaltrace.capture()`` (the middleware, for requests).

Two measurements: ``signal.send(sender=None, a=1)`` with 1 and 5 no-op
receivers, from which the time added per send (fixed part) and per receiver
call is worked out; and ``overhead.py``'s request creating 100 rows with one
``post_save`` receiver, where each send runs with the processor's caches cold.
Each is printed against ``overhead.py``'s budgets. The exit status is 0 either
way.
"""

from __future__ import annotations

import argparse
import contextvars
import platform
import sys
from collections.abc import Callable
from time import perf_counter
from typing import Any

import django
import overhead
from django.db import connection
from django.db.models.signals import post_save
from django.dispatch import Signal
from django.dispatch.dispatcher import NO_RECEIVERS
from overhead import Item, environ, make_handler, serve, timed, tracing_off
from timing import Timing

import signaltrace
from signaltrace import dispatch
from signaltrace.conf import DEFAULTS
from signaltrace.history import history
from signaltrace.values import Describer, describer

SENDS = 20_000
REQUESTS = 20

DJANGOS_SEND = Signal.send
DJANGOS_LIVE = Signal._live_receivers


# ------------------------------------------------------- the least recorder


class LeastSend:
    """One send, as the least recorder keeps it."""

    __slots__ = ("calls", "kwargs", "parent", "sender", "signal", "where")

    def __init__(
        self,
        signal: Signal,
        sender: object,
        kwargs: dict[str, Any],
        where: object,
        parent: LeastSend | None,
    ) -> None:
        self.signal = signal
        self.sender = sender
        self.kwargs = kwargs
        self.where = where
        self.parent = parent
        self.calls: list[LeastCall] = []


class LeastCall:
    """One receiver call, as the least recorder keeps it."""

    __slots__ = ("duration", "receiver", "started_at")

    def __init__(self, receiver: object, started_at: float) -> None:
        self.receiver = receiver
        self.started_at = started_at
        self.duration = 0.0


#: The sends recorded in this context, or None: not recording.
recording: contextvars.ContextVar[list[LeastSend] | None] = contextvars.ContextVar(
    "recording", default=None
)
#: The send whose receivers run now, for a send made from inside one.
sending: contextvars.ContextVar[LeastSend | None] = contextvars.ContextVar(
    "sending", default=None
)
#: With a describer: describe and locate each send as signaltrace does.
describing: Describer | None = None


def least_send(self: Signal, sender: object, **named: Any) -> Any:
    """``Signal.send``, recorded as little as a recorder can."""
    sends = recording.get()
    if sends is None:
        return DJANGOS_SEND(self, sender, **named)
    if not self.receivers or self.sender_receivers_cache.get(sender) is NO_RECEIVERS:
        return []
    caller = sys._getframe(1)
    if describing is None:
        shown, kwargs = sender, dict(named)
        where: object = (caller.f_code, caller.f_lasti)
    else:
        shown, kwargs = describing.sender(sender), describing.kwargs(named)
        where = dispatch._location(caller)
    record = LeastSend(self, shown, kwargs, where, sending.get())
    sends.append(record)
    token = sending.set(record)
    try:
        calls = record.calls
        responses = []
        receivers = DJANGOS_LIVE(self, sender)
        if type(receivers) is tuple:  # Django 5.0+: (sync, async)
            receivers = receivers[0]
        for receiver in receivers:
            call = LeastCall(receiver, perf_counter())
            calls.append(call)
            response = receiver(signal=self, sender=sender, **named)
            call.duration = perf_counter() - call.started_at
            responses.append((receiver, response))
        return responses
    finally:
        sending.reset(token)


def least_recording(describer: Describer | None = None) -> Callable[[], Any]:
    """Put the least recorder on ``Signal.send`` (describing with *describer*);
    the callable returned takes it off."""
    global describing
    describing = describer
    Signal.send = least_send  # type: ignore[method-assign]

    def off() -> None:
        global describing
        Signal.send = DJANGOS_SEND  # type: ignore[method-assign]
        describing = None

    return off


# ------------------------------------------------------------------ sends


def sends_of(signal: Signal) -> Callable[[], None]:
    def operation() -> None:
        send = signal.send  # looked up inside: the wrappers are on the class
        for _ in range(SENDS):
            send(sender=None, a=1)

    return operation


def send_ways() -> dict[str, Callable[[Callable[[], None]], float]]:
    """Each way of running *operation*, as seconds per send."""

    def bare(operation: Callable[[], None]) -> float:
        return timed(operation, SENDS)

    def least(describer: Describer | None) -> Callable[[Callable[[], None]], float]:
        def run(operation: Callable[[], None]) -> float:
            off = least_recording(describer)
            token = recording.set([])
            try:
                return timed(operation, SENDS)
            finally:
                recording.reset(token)
                off()

        return run

    def traced(operation: Callable[[], None]) -> float:
        with signaltrace.capture(max_events=SENDS) as trace:
            seconds = timed(operation, SENDS)
        assert len(trace.events) == SENDS, trace
        return seconds

    return {
        "bare Django": bare,
        "least recorder": least(None),
        "+ describe, locate": least(describer(DEFAULTS)),
        "signaltrace": traced,
    }


def bench_sends(repeats: int) -> None:
    print(
        f"\nSignal.send(sender=None, a=1), {SENDS:,} sends per repeat, "
        "min (median) per send"
    )
    ways = send_ways()
    timings: dict[str, dict[int, Timing]] = {way: {} for way in ways}
    for count in (1, 5):
        signal = Signal()
        for receiver in overhead.RECEIVERS[:count]:
            signal.connect(receiver)
        operation = sends_of(signal)
        samples: dict[str, list[float]] = {way: [] for way in ways}
        for run in ways.values():  # warm up
            run(operation)
        for _ in range(repeats):
            for way, run in ways.items():  # alternate: drift hits every way
                samples[way].append(run(operation))
        for way in ways:
            timings[way][count] = Timing(samples[way])
    print(f"  {'':20} {'1 receiver':>18} {'5 receivers':>18}")
    for way in ways:
        cells = [
            f"{timing.best * 1e9:6.0f} ns ({timing.median * 1e9:5.0f})"
            for timing in (timings[way][1], timings[way][5])
        ]
        print(f"  {way:20} {cells[0]:>18} {cells[1]:>18}")
    print("\n  added to bare Django (minimums)")
    print(f"  {'':20} {'per send':>10} {'per call':>10}")
    for way in list(ways)[1:]:
        added = {
            n: timings[way][n].best - timings["bare Django"][n].best for n in (1, 5)
        }
        per_call = (added[5] - added[1]) / 4
        fixed = added[1] - per_call
        print(f"  {way:20} {fixed * 1e6:7.2f} µs {per_call * 1e6:7.2f} µs")
    print(
        f"  {'budget':20} {overhead.TARGET_PER_SEND * 1e6:7.2f} µs "
        f"{overhead.TARGET_PER_RECEIVER * 1e6:7.2f} µs"
    )


# --------------------------------------------------------------- requests


def bench_request(repeats: int) -> None:
    request_environ = environ("/create/")
    post_save.connect(overhead.no_op, sender=Item)

    def batch(middleware: list[str]) -> float:
        handler = make_handler(middleware)

        def one() -> None:
            if middleware:
                serve(handler, request_environ)
                return
            token = recording.set([])
            try:
                serve(handler, request_environ)
            finally:
                recording.reset(token)

        seconds = timed(lambda: [one() for _ in range(REQUESTS)], REQUESTS)
        Item.objects.all().delete()
        history.clear()
        return seconds

    def bare() -> float:
        tracing_off()
        return batch([])

    def least(describer: Describer | None) -> Callable[[], float]:
        def run() -> float:
            tracing_off()
            off = least_recording(describer)
            try:
                return batch([])
            finally:
                off()

        return run

    def traced() -> float:
        return batch([overhead.MIDDLEWARE])

    ways: dict[str, Callable[[], float]] = {
        "bare Django": bare,
        "least recorder": least(None),
        "+ describe, locate": least(describer(DEFAULTS)),
        "signaltrace": traced,
    }
    samples: dict[str, list[float]] = {way: [] for way in ways}
    try:
        for run in ways.values():  # warm up
            run()
        for _ in range(repeats):
            for way, run in ways.items():
                samples[way].append(run())
    finally:
        post_save.disconnect(overhead.no_op, sender=Item)
        tracing_off()
    print(
        f"\nA request creating {overhead.ITEMS_PER_REQUEST} rows, one post_save "
        f"receiver, {REQUESTS} requests per repeat, min (median) per request"
    )
    bare_best = Timing(samples["bare Django"]).best
    for way in ways:
        timing = Timing(samples[way])
        print(
            f"  {way:20} {timing.best * 1e3:6.2f} ms ({timing.median * 1e3:5.2f})"
            f"  {timing.best / bare_best:5.2f}x"
        )
    print(f"  {'budget':20} {'':16} {overhead.TARGET_REQUEST_RATIO:5.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    options = parser.parse_args(argv)
    with connection.schema_editor() as editor:
        editor.create_model(Item)
    print(
        f"signaltrace floor: Django {django.get_version()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}"
    )
    bench_sends(options.repeat)
    bench_request(options.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
