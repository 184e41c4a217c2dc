"""The floor under the recording budgets: the least a Python wrapper can do to
record a send, next to bare Django and signaltrace, in one run.

Run ``python benchmarks/floor.py [--repeat N]``. It configures Django itself
(no database) and times ``signal.send(sender=None, a=1)`` of a custom
``Signal`` with 1 and 5 module-level no-op receivers:

- bare Django;
- the *least recorder* below: a wrapper of ``Signal.send`` that keeps one
  record per send (the signal, the sender and the keyword arguments as they
  were passed, the caller's code and instruction, the send it was made from
  through a context variable) and one per receiver call (its start and
  duration), and returns Django's pairs. It describes nothing, masks nothing,
  does not look for the project's line past the caller, contains no error,
  takes no recording time off a parent's duration: what no recorder can do
  without;
- ``signaltrace.capture()``.

From 1 and 5 receivers it works out the time each adds per send (fixed part)
and per receiver call, against the budgets of ``overhead.py``. It then times,
alone, what signaltrace does that the least recorder does not: describing the
keyword arguments of this send and of a ``post_save``-shaped one (a model
instance, four scalars), and locating the send (the caller is the project's:
one frame). The exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import platform
import sys
import timeit
from collections.abc import Callable
from time import perf_counter
from typing import Any

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={},
)
django.setup()

from django.contrib.auth.models import Group  # noqa: E402
from django.dispatch import Signal  # noqa: E402
from django.dispatch.dispatcher import NO_RECEIVERS  # noqa: E402
from timing import Timing  # noqa: E402

import signaltrace  # noqa: E402
from signaltrace import dispatch  # noqa: E402
from signaltrace.conf import DEFAULTS  # noqa: E402
from signaltrace.values import describer  # noqa: E402

#: The budgets of overhead.py: added seconds per send and per receiver call.
TARGET_PER_SEND = 1.0e-6
TARGET_PER_RECEIVER = 0.4e-6
SENDS = 20_000

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
        where: tuple[Any, int],
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


recording: contextvars.ContextVar[list[LeastSend] | None] = contextvars.ContextVar(
    "recording", default=None
)
sending: contextvars.ContextVar[LeastSend | None] = contextvars.ContextVar(
    "sending", default=None
)


def least_send(self: Signal, sender: object, **named: Any) -> Any:
    """``Signal.send``, recorded as little as a recorder can."""
    sends = recording.get()
    if sends is None:
        return DJANGOS_SEND(self, sender, **named)
    if not self.receivers or self.sender_receivers_cache.get(sender) is NO_RECEIVERS:
        return []
    caller = sys._getframe(1)
    record = LeastSend(
        self, sender, dict(named), (caller.f_code, caller.f_lasti), sending.get()
    )
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


# ---------------------------------------------------------------- timing


def no_op(sender: object, **kwargs: Any) -> None:
    pass


def receiver_1(sender: object, **kwargs: Any) -> None:
    pass


def receiver_2(sender: object, **kwargs: Any) -> None:
    pass


def receiver_3(sender: object, **kwargs: Any) -> None:
    pass


def receiver_4(sender: object, **kwargs: Any) -> None:
    pass


RECEIVERS = [no_op, receiver_1, receiver_2, receiver_3, receiver_4]


def timed(operation: Callable[[], object]) -> float:
    """Seconds per send for one run of *operation*, the collector paused."""
    gc.collect()
    gc.disable()
    try:
        started = perf_counter()
        operation()
        return (perf_counter() - started) / SENDS
    finally:
        gc.enable()


def sends_of(signal: Signal) -> Callable[[], None]:
    def operation() -> None:
        send = signal.send  # looked up inside: the wrappers are on the class
        for _ in range(SENDS):
            send(sender=None, a=1)

    return operation


def bare(operation: Callable[[], None]) -> float:
    return timed(operation)


def least(operation: Callable[[], None]) -> float:
    Signal.send = least_send  # type: ignore[method-assign]
    token = recording.set([])
    try:
        return timed(operation)
    finally:
        recording.reset(token)
        Signal.send = DJANGOS_SEND  # type: ignore[method-assign]


def traced(operation: Callable[[], None]) -> float:
    with signaltrace.capture(max_events=SENDS) as trace:
        seconds = timed(operation)
    assert len(trace.events) == SENDS, trace
    return seconds


WAYS = {"bare Django": bare, "least recorder": least, "signaltrace": traced}


def per_send(statement: Callable[[], object], number: int = 100_000) -> float:
    """The best seconds per run of *statement* over seven repeats."""
    return min(timeit.repeat(statement, number=number, repeat=7)) / number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    options = parser.parse_args(argv)

    print(
        f"signaltrace floor: Django {django.get_version()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}"
    )
    print(
        f"\nSignal.send(sender=None, a=1), {SENDS:,} sends per repeat, "
        "min (median) per send"
    )
    timings: dict[str, dict[int, Timing]] = {way: {} for way in WAYS}
    for count in (1, 5):
        signal = Signal()
        for receiver in RECEIVERS[:count]:
            signal.connect(receiver)
        operation = sends_of(signal)
        samples: dict[str, list[float]] = {way: [] for way in WAYS}
        for run in WAYS.values():  # warm up
            run(operation)
        for _ in range(options.repeat):
            for way, run in WAYS.items():  # alternate: drift hits every way
                samples[way].append(run(operation))
        for way in WAYS:
            timings[way][count] = Timing(samples[way])
    print(f"  {'':16} {'1 receiver':>18} {'5 receivers':>18}")
    for way in WAYS:
        cells = [
            f"{timing.best * 1e9:6.0f} ns ({timing.median * 1e9:5.0f})"
            for timing in (timings[way][1], timings[way][5])
        ]
        print(f"  {way:16} {cells[0]:>18} {cells[1]:>18}")

    print("\nAdded to bare Django (minimums)")
    print(f"  {'':16} {'per send':>10} {'per call':>10}")
    for way in ("least recorder", "signaltrace"):
        added = {
            n: timings[way][n].best - timings["bare Django"][n].best for n in (1, 5)
        }
        per_call = (added[5] - added[1]) / 4
        fixed = added[1] - per_call
        print(f"  {way:16} {fixed * 1e6:7.2f} µs {per_call * 1e6:7.2f} µs")
    print(
        f"  {'budget':16} {TARGET_PER_SEND * 1e6:7.2f} µs "
        f"{TARGET_PER_RECEIVER * 1e6:7.2f} µs"
    )

    describe = describer(DEFAULTS)
    instance = Group(pk=3, name="staff")
    post_save_kwargs = {
        "instance": instance,
        "created": True,
        "update_fields": None,
        "raw": False,
        "using": "default",
    }
    describe.kwargs(post_save_kwargs)  # types and names worked out once

    def locate() -> object:
        return dispatch._location(sys._getframe(0))

    print("\nWhat the least recorder leaves out, timed alone (best of 7)")
    for label, statement in (
        (
            "describing a=1 and sender=None",
            lambda: (describe.sender(None), describe.kwargs({"a": 1})),
        ),
        (
            "describing post_save's five kwargs",
            lambda: describe.kwargs(post_save_kwargs),
        ),
        ("locating a send from the project", locate),
    ):
        print(f"  {label:36} {per_send(statement) * 1e9:6.0f} ns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
