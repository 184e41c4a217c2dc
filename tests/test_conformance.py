"""Tracing never changes the traced program: every behaviour, bare and traced.

Each test runs the same scenario against Django's dispatcher twice, without
and with a capture, and compares what the program observes.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sys
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any
from unittest import mock

import django
import pytest
from django.db.models import signals as model_signals
from django.dispatch import Signal

import signaltrace
from signaltrace import install

HAS_ASYNC = django.VERSION >= (5, 0)
needs_async = pytest.mark.skipif(not HAS_ASYNC, reason="async receivers: Django 5.0+")


class Failure(Exception):
    pass


def plain(sender: object, **kwargs: Any) -> str:
    return "plain"


def failing(sender: object, **kwargs: Any) -> None:
    raise Failure("plain failure")


def with_prefix(prefix: str, sender: object, **kwargs: Any) -> str:
    return prefix + "partial"


class Handler:
    def method(self, sender: object, **kwargs: Any) -> str:
        return "method"

    def __call__(self, sender: object, **kwargs: Any) -> str:
        return "instance"


async def coroutine(sender: object, **kwargs: Any) -> str:
    await asyncio.sleep(0)
    return "coroutine"


async def failing_coroutine(sender: object, **kwargs: Any) -> None:
    await asyncio.sleep(0)
    raise Failure("async failure")


def both(scenario: Callable[[], Any]) -> tuple[Any, Any]:
    """Run *scenario* bare, then inside a capture; return both results."""
    bare = scenario()
    with signaltrace.capture():
        traced = scenario()
    return bare, traced


def receivers_of_every_shape(signal: Signal) -> list[Any]:
    """Connect one receiver of each shape; return them (strong references)."""
    handler = Handler()
    partial = functools.partial(with_prefix, "a ")
    a_mock = mock.Mock(return_value="mock")
    receivers: list[Any] = [plain, partial, handler.method, handler, a_mock]
    for receiver in receivers:
        signal.connect(receiver, weak=receiver is not a_mock)
    return [*receivers, handler]


# ----------------------------------------------------------- return values


def test_send_returns_the_original_receivers_and_responses_in_order() -> None:
    signal = Signal()
    keep = receivers_of_every_shape(signal)

    bare, traced = both(lambda: signal.send(sender=None, value=1))

    assert traced == bare
    assert [receiver for receiver, _ in traced] == [r for r, _ in bare]
    # The same objects (a weakly held bound method is rebuilt at every send).
    assert all(
        a is b or (isinstance(a, types.MethodType) and a == b)
        for (a, _), (b, _) in zip(bare, traced, strict=False)
    )
    assert len(traced) == len(keep) - 1


def test_send_robust_returns_the_same_pairs_and_error_types() -> None:
    signal = Signal()
    keep = receivers_of_every_shape(signal)
    signal.connect(failing)

    bare, traced = both(lambda: signal.send_robust(sender=None))

    assert [r for r, _ in traced] == [r for r, _ in bare]
    assert [type(v) for _, v in traced] == [type(v) for _, v in bare]
    assert [str(v) for _, v in traced] == [str(v) for _, v in bare]
    assert keep


@needs_async
def test_sync_then_async_order_is_kept_by_send() -> None:
    signal = Signal()
    signal.connect(coroutine)
    signal.connect(plain)

    bare, traced = both(lambda: signal.send(sender=None))

    assert traced == bare == [(plain, "plain"), (coroutine, "coroutine")]


@needs_async
def test_asend_returns_the_same_pairs() -> None:
    signal = Signal()
    keep = receivers_of_every_shape(signal)
    signal.connect(coroutine)

    bare, traced = both(lambda: asyncio.run(signal.asend(sender=None)))

    assert traced == bare
    assert keep


@needs_async
def test_asend_robust_returns_the_same_pairs_and_errors() -> None:
    signal = Signal()
    signal.connect(coroutine)
    signal.connect(failing_coroutine)
    signal.connect(failing)
    signal.connect(plain)

    bare, traced = both(lambda: asyncio.run(signal.asend_robust(sender=None)))

    assert [r for r, _ in traced] == [r for r, _ in bare]
    assert [type(v) for _, v in traced] == [type(v) for _, v in bare]


# -------------------------------------------------------------- exceptions


class Stop(BaseException):
    """Not an Exception: send_robust lets it through."""


@pytest.mark.parametrize(
    ("method", "error"), [("send", Failure("the one")), ("send_robust", Stop())]
)
def test_send_propagates_the_same_exception_object(
    method: str, error: BaseException
) -> None:
    def raiser(sender: object, **kwargs: Any) -> None:
        raise error

    signal = Signal()
    signal.connect(raiser)
    signal.connect(plain)

    def scenario() -> BaseException:
        with pytest.raises(type(error)) as info:
            getattr(signal, method)(sender=None)
        return info.value

    bare, traced = both(scenario)
    assert bare is traced is error


@needs_async
def test_asend_propagates_exceptions_as_django_does() -> None:
    """One failure propagates as itself; two as Django's version does it."""
    signal = Signal()
    signal.connect(failing_coroutine)
    signal.connect(coroutine)

    def one() -> type[BaseException]:
        try:
            asyncio.run(signal.asend(sender=None))
        except BaseException as error:
            return type(error)
        raise AssertionError("asend did not raise")

    assert both(one) == (Failure, Failure)

    async def second_failure(sender: object, **kwargs: Any) -> None:
        raise Failure("second")

    signal.connect(second_failure)

    def two() -> tuple[type[BaseException], list[str]]:
        try:
            asyncio.run(signal.asend(sender=None))
        except BaseException as error:
            inner = getattr(error, "exceptions", (error,))
            return type(error), sorted(str(e) for e in inner)
        raise AssertionError("asend did not raise")

    bare, traced = both(two)
    assert bare == traced
    if django.VERSION >= (6, 0):
        assert issubclass(bare[0], BaseExceptionGroup)  # noqa: F821


def test_send_robust_logs_exactly_as_django(caplog: pytest.LogCaptureFixture) -> None:
    signal = Signal()
    signal.connect(failing)

    def scenario() -> list[tuple[Any, ...]]:
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="django.dispatch"):
            responses = signal.send_robust(sender=None)
        return [
            (
                r.name,
                r.levelno,
                r.getMessage(),
                r.exc_info[1] is responses[0][1],  # type: ignore[index]
                r.pathname,
                r.funcName,
            )
            for r in caplog.records
        ]

    bare, traced = both(scenario)
    assert bare == traced
    assert bare[0][2] == "Error calling failing in Signal.send_robust() (plain failure)"


def test_failing_partial_in_send_robust_behaves_as_in_bare_django() -> None:
    signal = Signal()
    partial = functools.partial(failing)
    signal.connect(partial)

    def scenario() -> tuple[str, str]:
        try:
            responses = signal.send_robust(sender=None)
        except Exception as error:  # Django < 6.2 cannot log a partial's name
            return ("raised", f"{type(error).__name__}: {error}")
        return ("returned", repr([(r is partial, type(v)) for r, v in responses]))

    bare, traced = both(scenario)
    assert bare == traced


def test_receivers_see_the_exception_being_handled() -> None:
    signal = Signal()
    seen: list[Any] = []

    def reader(sender: object, **kwargs: Any) -> None:
        seen.append(sys.exc_info()[1])

    signal.connect(reader)

    def scenario() -> Any:
        seen.clear()
        try:
            raise Failure("handled")
        except Failure as error:
            signal.send(sender=None)
            return seen[0] is error

    assert both(scenario) == (True, True)


def test_a_failing_receivers_traceback_has_no_more_frames_than_in_django() -> None:
    """send() calls receivers itself: its frame stands where Django's would.

    (Django 4.2's send() calls them from a list comprehension, a frame of its
    own on Python < 3.12.)
    """
    signal = Signal()
    signal.connect(failing)

    def scenario() -> list[str]:
        with pytest.raises(Failure) as info:
            signal.send(sender=None)
        return [frame.name for frame in info.traceback]

    bare, traced = both(scenario)
    assert traced == ["scenario", "traced", "failing"]
    assert bare[0] == "scenario"
    assert bare[-1] == "failing"
    assert len(traced) <= len(bare)


def _live_receivers_calls(scenario: Callable[[], Any]) -> int:
    """How many times Django's own Signal._live_receivers runs in *scenario*."""
    code = install._originals.get("_live_receivers", Signal._live_receivers).__code__
    calls = 0

    def profile(frame: types.FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call" and frame.f_code is code:
            calls += 1

    sys.setprofile(profile)
    try:
        scenario()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("with_async", [False, True])
def test_receivers_are_looked_up_once_per_send_as_in_django(with_async: bool) -> None:
    if with_async and not HAS_ASYNC:
        pytest.skip("async receivers: Django 5.0+")
    signal = Signal()
    signal.connect(plain)
    if with_async:
        signal.connect(coroutine)

    def scenario() -> int:
        return _live_receivers_calls(lambda: signal.send(sender=None))

    assert both(scenario) == (1, 1)


def test_a_signal_class_with_its_own_live_receivers_is_dispatched_by_it() -> None:
    looked_up: list[object] = []

    class Filtered(Signal):
        def _live_receivers(self, sender: object) -> Any:
            looked_up.append(sender)
            receivers = super()._live_receivers(sender)
            if type(receivers) is tuple:
                return [r for r in receivers[0] if r is not plain], receivers[1]
            return [r for r in receivers if r is not plain]

    signal = Filtered()
    signal.connect(plain)
    keep = Handler()
    signal.connect(keep.method)

    def scenario() -> list[tuple[Any, Any]]:
        looked_up.clear()
        responses = signal.send(sender="s")
        assert looked_up == ["s"]
        return responses

    bare, traced = both(scenario)
    assert traced == bare == [(keep.method, "method")]
    # What its lookup gives is called through proxies: each call timed.
    with signaltrace.capture() as trace:
        scenario()
    (event,) = trace.events
    assert [(call.name, call.response) for call in event.receivers] == [
        ("tests.test_conformance.Handler.method", "method")
    ]
    assert all(call.started_at > 0 for call in event.receivers)


def test_djangos_lookup_is_never_replaced_on_the_class() -> None:
    djangos = Signal.__dict__["_live_receivers"]
    signal = Signal()
    signal.connect(plain)
    if HAS_ASYNC:
        signal.connect(coroutine)  # a send followed through Django's method
    seen: list[object] = []

    def looks(sender: object, **kwargs: Any) -> None:
        seen.append(Signal.__dict__["_live_receivers"])
        seen.append(signal.__dict__.get("_live_receivers"))

    signal.connect(looks)
    with signaltrace.capture() as trace:
        signal.send_robust(sender=None)

    # While the send was followed, the instance had a lookup of its own.
    assert seen[0] is djangos
    assert seen[1] is not None
    assert "_live_receivers" not in signal.__dict__
    assert len(trace.events[0].receivers) == (3 if HAS_ASYNC else 2)


def test_a_signals_own_instance_lookup_is_used_and_given_back() -> None:
    signal = Signal()
    signal.connect(plain)
    keep = Handler()
    signal.connect(keep.method)
    asked: list[object] = []

    def own(sender: object) -> Any:
        asked.append(sender)
        receivers = Signal._live_receivers(signal, sender)
        if type(receivers) is tuple:
            return [r for r in receivers[0] if r is not plain], receivers[1]
        return [r for r in receivers if r is not plain]

    signal._live_receivers = own  # type: ignore[method-assign]

    bare, traced = both(lambda: signal.send_robust(sender="s"))

    assert bare == traced == [(keep.method, "method")]
    assert asked == ["s", "s"]
    assert signal.__dict__["_live_receivers"] is own


def test_other_threads_sending_the_same_signal_meanwhile_get_the_receivers() -> None:
    signal = Signal()
    signal.connect(plain)
    started, done = threading.Event(), threading.Event()
    other: list[Any] = []

    def holds(sender: object, **kwargs: Any) -> None:
        # While this send is followed, another thread sends the same signal.
        if sender == "followed":
            started.set()
            assert done.wait(10)

    def sends_meanwhile() -> None:
        assert started.wait(10)
        other.extend(signal.send_robust(sender="other"))
        other.append(signal.has_listeners("other"))
        done.set()

    signal.connect(holds)
    if HAS_ASYNC:
        signal.connect(coroutine)  # a send followed through Django's method
    expected = [(plain, "plain"), (holds, None)]
    expected += [(coroutine, "coroutine")] if HAS_ASYNC else []
    thread = threading.Thread(target=sends_meanwhile)
    thread.start()
    with signaltrace.capture() as trace:
        responses = signal.send_robust(sender="followed")
    thread.join()

    assert responses == expected
    assert other == [*expected, True]
    # Only the followed send was recorded: the other thread's context has no trace.
    assert [event.sender_name for event in trace.events] == ["'followed'"]
    assert "_live_receivers" not in signal.__dict__


def test_another_tools_send_wrapper_still_runs() -> None:
    seen: list[str] = []
    djangos = Signal.send

    def wrapper(self: Signal, sender: object, **named: Any) -> Any:
        seen.append("wrapper")
        return djangos(self, sender, **named)

    signal = Signal()
    signal.connect(plain)
    with mock.patch.object(Signal, "send", wrapper):
        bare, traced = both(lambda: signal.send(sender=None))
    assert bare == traced == [(plain, "plain")]
    assert seen == ["wrapper", "wrapper"]


# ------------------------------------------------------- weak references


@pytest.mark.parametrize("method", ["send", "send_robust", "asend"])
def test_weak_receivers_are_collected_while_a_capture_is_active(method: str) -> None:
    if method == "asend" and not HAS_ASYNC:
        pytest.skip("asend: Django 5.0+")
    signal = Signal()
    handler = Handler()
    signal.connect(handler.method)

    def temporary(sender: object, **kwargs: Any) -> str:
        return "temporary"

    async def temporary_coroutine(sender: object, **kwargs: Any) -> str:
        return "coroutine"

    signal.connect(temporary)
    if HAS_ASYNC:  # a send with async receivers is looked up once, then left to Django
        signal.connect(temporary_coroutine)

    def send() -> Any:
        if method == "asend":
            return asyncio.run(signal.asend(sender=None))
        return getattr(signal, method)(sender=None)

    with signaltrace.capture() as trace:
        send()
        refs = [weakref.ref(handler), weakref.ref(temporary)]
        if HAS_ASYNC:
            refs.append(weakref.ref(temporary_coroutine))
        assert len(trace.events[0].receivers) == len(refs)
        del handler, temporary, temporary_coroutine
        gc.collect()
        assert [ref() for ref in refs] == [None] * len(refs)
        assert send() == []
        assert [call.receiver for call in trace.events[0].receivers] == [None] * len(
            refs
        )


def test_the_trace_holds_no_strong_reference_to_a_sender() -> None:
    class Sender:
        pass

    signal = Signal()
    signal.connect(plain)
    sender = Sender()
    with signaltrace.capture() as trace:
        signal.send(sender=sender)
    sender_ref = weakref.ref(sender)
    del sender
    gc.collect()
    assert sender_ref() is None
    assert trace.events[0].sender is None
    assert trace.events[0].sender_name.startswith("<")


@pytest.mark.skipif(django.VERSION < (5, 0), reason="senders weakly held: 5.0+")
def test_receivers_of_a_collected_sender_are_dropped_as_in_django() -> None:
    class Sender:
        pass

    def scenario() -> list[Any]:
        signal = Signal()
        sender = Sender()
        signal.connect(plain, sender=sender)
        del sender
        gc.collect()
        return [signal.send(sender=None), len(signal.receivers)]

    bare, traced = both(scenario)
    assert bare == traced


# ----------------------------------------------- listeners, uid, caching


def test_has_listeners_answers_the_same() -> None:
    signal = Signal()
    sender = object()
    answers: list[bool] = []

    def asks(sender: object, **kwargs: Any) -> None:
        answers.append(signal.has_listeners(sender))

    def scenario() -> list[bool]:
        answers.clear()
        before = [signal.has_listeners(), signal.has_listeners(sender)]
        signal.connect(asks, sender=sender)
        signal.send(sender=sender)
        after = [signal.has_listeners(), signal.has_listeners(sender)]
        signal.disconnect(asks, sender=sender)
        return [*before, *answers, *after, signal.has_listeners(sender)]

    bare, traced = both(scenario)
    assert bare == traced == [False, False, True, False, True, False]


def test_dispatch_uid_and_sender_filters_act_the_same() -> None:
    signal = Signal()
    sender_a, sender_b = object(), object()

    def scenario() -> list[Any]:
        signal.connect(plain, dispatch_uid="uid")
        signal.connect(plain, dispatch_uid="uid")
        signal.connect(with_prefix_receiver, sender=sender_a)
        results = [
            [r for r, _ in signal.send(sender=sender_a)],
            [r for r, _ in signal.send(sender=sender_b)],
        ]
        disconnected = signal.disconnect(dispatch_uid="uid")
        signal.disconnect(with_prefix_receiver, sender=sender_a)
        return [*results, disconnected, signal.receivers]

    bare, traced = both(scenario)
    assert bare == traced
    assert bare[0] == [plain, with_prefix_receiver]
    assert bare[1] == [plain]


with_prefix_receiver = functools.partial(with_prefix, "b ")


def test_caching_signals_behave_the_same() -> None:
    signal = Signal(use_caching=True)

    class Sender:
        pass

    def scenario() -> list[Any]:
        signal.sender_receivers_cache.clear()
        first = signal.send(sender=Sender)
        signal.connect(plain, sender=Sender)
        second = signal.send(sender=Sender)
        cached = signal.sender_receivers_cache.get(Sender)
        signal.disconnect(plain, sender=Sender)
        third = signal.send(sender=Sender)
        return [
            first,
            second,
            cached is not None,
            third,
            dict(signal.sender_receivers_cache),
        ]

    bare, traced = both(scenario)
    assert bare[:4] == traced[:4]
    assert bare[4].keys() == traced[4].keys()


# ---------------------------------------------------------- async shapes


@needs_async
def test_concurrent_async_receivers_each_get_their_own_duration() -> None:
    signal = Signal()

    async def short(sender: object, **kwargs: Any) -> str:
        await asyncio.sleep(0.02)
        return "short"

    async def long(sender: object, **kwargs: Any) -> str:
        await asyncio.sleep(0.08)
        return "long"

    signal.connect(short)
    signal.connect(long)

    with signaltrace.capture() as trace:
        responses = asyncio.run(signal.asend(sender=None))

    assert responses == [(short, "short"), (long, "long")]
    calls = {call.name.rpartition(".")[2]: call for call in trace.events[0].receivers}
    assert calls["short"].is_async
    assert calls["short"].duration >= 0.02
    assert calls["long"].duration >= 0.08
    assert calls["short"].duration < calls["long"].duration
    # They ran concurrently: the send took about as long as the longer one.
    assert trace.events[0].duration < calls["short"].duration + calls["long"].duration


@needs_async
def test_async_receivers_in_a_sync_send_are_recorded() -> None:
    signal = Signal()
    signal.connect(coroutine)
    with signaltrace.capture() as trace:
        assert signal.send(sender=None) == [(coroutine, "coroutine")]
    (call,) = trace.events[0].receivers
    assert call.is_async
    assert call.response == "coroutine"


@needs_async
def test_context_changes_made_by_async_receivers_reach_the_caller_as_in_django() -> (
    None
):
    import contextvars

    variable: contextvars.ContextVar[str] = contextvars.ContextVar("v", default="unset")

    async def setter(sender: object, **kwargs: Any) -> None:
        variable.set("set by receiver")

    signal = Signal()
    signal.connect(setter)

    def scenario() -> str:
        async def main() -> str:
            await signal.asend(sender=None)
            return variable.get()

        return asyncio.run(main())

    bare, traced = both(scenario)
    assert bare == traced


# ------------------------------------------ nothing of ours is connected


MODEL_SIGNALS = [
    model_signals.pre_init,
    model_signals.post_init,
    model_signals.pre_save,
    model_signals.post_save,
    model_signals.pre_delete,
    model_signals.post_delete,
    model_signals.m2m_changed,
    model_signals.pre_migrate,
    model_signals.post_migrate,
    model_signals.class_prepared,
]


@pytest.mark.django_db
def test_no_receiver_is_connected_to_model_signals_by_tracing() -> None:
    from tests.app.models import Author

    def snapshot() -> list[list[Any]]:
        return [list(signal.receivers) for signal in MODEL_SIGNALS]

    before = snapshot()
    listeners = [s.has_listeners(Author) for s in MODEL_SIGNALS]
    with signaltrace.capture():
        Author.objects.create(name="ada")
        assert snapshot() == before
        assert [s.has_listeners(Author) for s in MODEL_SIGNALS] == listeners
    assert snapshot() == before


# ------------------------------------------------------------ zero cost


def test_signal_methods_are_djangos_own_when_no_capture_is_active() -> None:
    originals = {name: Signal.__dict__[name] for name in vars(Signal) if "send" in name}
    assert not install.is_installed()
    with signaltrace.capture():
        assert install.is_installed()
        assert Signal.__dict__["send"] is not originals["send"]
        with signaltrace.capture():
            pass
        assert install.is_installed()
    assert not install.is_installed()
    assert {name: Signal.__dict__[name] for name in originals} == originals


def test_wrappers_keep_djangos_signature_and_docs() -> None:
    original = Signal.send
    with signaltrace.capture():
        assert Signal.send.__wrapped__ is original  # type: ignore[attr-defined]
        assert Signal.send.__doc__ == original.__doc__
