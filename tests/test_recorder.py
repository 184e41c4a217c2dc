"""What a capture records: events, receivers, nesting, counts, bounds, isolation."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import django
import pytest
from django.db.models.signals import post_init, post_save, pre_init
from django.dispatch import Signal

import signaltrace
from signaltrace import context, install, request_scope
from tests.app.models import Author

order_placed = Signal()
payment_taken = Signal()


class Failure(Exception):
    pass


def places_payment(sender: object, **kwargs: Any) -> str:
    payment_taken.send(sender="shop", amount=kwargs.get("amount"))
    return "placed"


def takes_payment(sender: object, **kwargs: Any) -> str:
    return "paid"


@pytest.fixture
def shop() -> Any:
    order_placed.connect(places_payment)
    payment_taken.connect(takes_payment)
    yield
    order_placed.disconnect(places_payment)
    payment_taken.disconnect(takes_payment)


def test_a_send_becomes_an_event_with_its_receivers(shop: None) -> None:
    with signaltrace.capture() as trace:
        payment_taken.send(sender="shop", amount=3)

    (event,) = trace.events
    assert event.signal is payment_taken
    assert event.name == "tests.test_recorder.payment_taken"
    assert event.sender_name == "'shop'"
    assert event.kwargs == {"amount": 3}
    assert event.method == "send"
    assert [call.name for call in event.receivers] == [
        "tests.test_recorder.takes_payment"
    ]
    (call,) = event.receivers
    assert call.response == "paid"
    assert call.error is None
    assert call.is_async is False
    assert 0 <= call.duration <= event.duration
    assert 0 <= event.start <= trace.elapsed


def test_a_capture_holds_descriptions_only_by_default(shop: None) -> None:
    order = Author(pk=3, name="ada")
    with signaltrace.capture() as trace:
        payment_taken.send(sender=order, order=order)

    (event,) = trace.events
    assert event.kwargs == {"order": "<testapp.Author pk=3>"}
    assert event.sender_name == "<testapp.Author pk=3>"
    assert (event.sender, event.live_kwargs) == (None, None)
    assert event.receivers[0].receiver is None
    assert event.receivers[0].live_response is None


def test_keep_values_keeps_the_live_values_too(shop: None) -> None:
    order = Author(pk=3, name="ada")
    with signaltrace.capture(keep_values=True) as trace:
        payment_taken.send(sender=order, order=order)

    (event,) = trace.events
    assert event.live_kwargs == {"order": order}
    assert event.live_kwargs["order"] is order
    assert event.sender is order
    assert event.kwargs == {"order": "<testapp.Author pk=3>"}
    (call,) = event.receivers
    assert call.receiver is takes_payment
    assert call.live_response == "paid"


def test_a_send_from_inside_a_receiver_is_its_child(shop: None) -> None:
    with signaltrace.capture() as trace:
        order_placed.send(sender="shop", amount=5)

    parent, child = trace.events
    assert trace.roots == [parent]
    assert parent.children == [child]
    assert child.parent is parent
    assert child.parent_call is parent.receivers[0]
    assert parent.receivers[0].children == [child]
    assert (parent.depth, child.depth) == (0, 1)
    assert child.kwargs == {"amount": 5}
    assert list(parent.walk()) == [parent, child]


def test_location_is_the_users_line_not_djangos() -> None:
    with signaltrace.capture(record_unreceived=True) as trace:
        Author(name="ada")  # the line the user looks for
    event = trace.filter(post_init)[0]
    assert event.location is not None
    assert event.location.filename == __file__
    assert event.location.function == "test_location_is_the_users_line_not_djangos"


def test_location_of_a_nested_send_is_inside_the_receiver(shop: None) -> None:
    with signaltrace.capture() as trace:
        order_placed.send(sender="shop")
    assert trace.events[1].location is not None
    assert trace.events[1].location.function == "places_payment"


def test_each_send_method_is_named_and_records_its_calls() -> None:
    signal = Signal()
    signal.connect(takes_payment)
    with signaltrace.capture() as trace:
        signal.send(sender=None)
        signal.send_robust(sender=None)
        if django.VERSION >= (5, 0):
            asyncio.run(signal.asend(sender=None))
            asyncio.run(signal.asend_robust(sender=None))
    expected = ["send", "send_robust"]
    if django.VERSION >= (5, 0):
        expected += ["asend", "asend_robust"]
    assert [event.method for event in trace.events] == expected
    for event in trace.events:  # each method records its calls the same way
        (call,) = event.receivers
        assert call.response == "paid", event.method
        assert 0 < call.duration <= event.duration
        assert event.started_at <= call.started_at


def test_an_exception_is_recorded_on_the_receiver_and_the_event() -> None:
    signal = Signal()
    error = Failure("boom")

    def raiser(sender: object, **kwargs: Any) -> None:
        raise error

    signal.connect(raiser)
    with signaltrace.capture(keep_values=True) as trace, pytest.raises(Failure):
        signal.send(sender=None)
    (event,) = trace.events
    assert event.exception is error
    assert event.receivers[0].exception is error
    assert trace.errors == [event.receivers[0]]
    assert str(event.error) == str(event.receivers[0].error) == "Failure: boom"
    assert event.error is not None
    assert event.error.type == "tests.test_recorder.Failure"


@pytest.mark.parametrize("method", ["send", "asend"])
def test_a_failing_receiver_ends_the_send_and_is_recorded(method: str) -> None:
    """The receivers before it keep their responses; those after it never ran."""
    if method == "asend" and django.VERSION < (5, 0):
        pytest.skip("asend: Django 5.0+")
    signal = Signal()
    error = Failure("boom")

    def raiser(sender: object, **kwargs: Any) -> None:
        raise error

    signal.connect(takes_payment)
    signal.connect(raiser)
    signal.connect(places_payment)

    def send() -> None:
        if method == "send":
            signal.send(sender=None)
        else:
            asyncio.run(signal.asend(sender=None))

    with signaltrace.capture(keep_values=True) as trace, pytest.raises(Failure):
        send()
    (event,) = trace.events
    first, failed = event.receivers
    assert (first.response, first.exception) == ("paid", None)
    assert failed.name.endswith(".raiser")
    assert failed.exception is error
    assert failed.duration > 0
    assert failed.started_at >= first.started_at + first.duration
    assert event.exception is error


def test_events_and_calls_are_the_records_themselves(shop: None) -> None:
    with signaltrace.capture() as trace:
        order_placed.send(sender="shop", amount=3)
    outer, inner = trace.events
    assert outer.receivers[0].children == [inner]
    assert inner.parent_call is outer.receivers[0]
    assert inner.parent is outer
    assert outer.receivers[0].event is outer
    assert outer != inner


def test_current_call_is_the_receiver_running_here() -> None:
    signal = Signal()
    seen: list[Any] = []

    def looks(sender: object, **kwargs: Any) -> None:
        seen.append(context.current_call())

    signal.connect(looks)
    with signaltrace.capture() as trace:
        assert context.current_call() is None
        signal.send(sender=None)
        signal.send_robust(sender=None)
    assert seen == [event.receivers[0] for event in trace.events]
    assert seen[0].name.endswith(".looks")


def test_a_send_still_running_shows_as_it_is_so_far() -> None:
    signal = Signal()
    seen: list[tuple[int, float, Any]] = []

    def looks(sender: object, **kwargs: Any) -> str:
        (event,) = trace.events
        call = event.receivers[-1]
        seen.append((len(event.receivers), call.duration, call.response))
        return "done"

    signal.connect(takes_payment)
    signal.connect(looks)
    with signaltrace.capture() as trace:
        signal.send(sender=None)
    assert seen == [(2, 0.0, None)]
    (event,) = trace.events
    assert [call.response for call in event.receivers] == ["paid", "done"]
    assert event.receivers[-1].duration > 0


def test_errors_swallowed_by_send_robust_are_recorded() -> None:
    signal = Signal()

    def raiser(sender: object, **kwargs: Any) -> None:
        raise Failure("swallowed")

    signal.connect(raiser)
    signal.connect(takes_payment)
    with signaltrace.capture() as trace:
        signal.send_robust(sender=None)
    event = trace.events[0]
    assert event.error is None
    assert [call.failed for call in event.receivers] == [True, False]
    assert str(trace.errors[0].error) == "Failure: swallowed"


# ------------------------------------------------------ unreceived sends


@pytest.mark.django_db
def test_sends_that_reach_no_receiver_are_counted_not_stored() -> None:
    Author.objects.bulk_create([Author(name=str(i)) for i in range(3)])
    with signaltrace.capture() as trace:
        list(Author.objects.all())
    assert trace.events == []
    assert trace.counts == {
        ("django.db.models.signals.pre_init", "tests.app.models.Author"): 3,
        ("django.db.models.signals.post_init", "tests.app.models.Author"): 3,
    }


def test_a_send_whose_receivers_filter_other_senders_is_counted() -> None:
    payment_taken.connect(takes_payment, sender="someone else")
    try:
        with signaltrace.capture() as trace:
            payment_taken.send(sender="shop")
    finally:
        payment_taken.disconnect(takes_payment, sender="someone else")
    assert trace.events == []
    assert trace.counts == {("tests.test_recorder.payment_taken", "'shop'"): 1}


def test_record_unreceived_stores_them_as_events() -> None:
    nobody_listens = Signal()
    with signaltrace.capture(record_unreceived=True) as trace:
        nobody_listens.send(sender="x", value=1)
    (event,) = trace.events
    assert event.receivers == []
    assert event.kwargs == {"value": 1}
    assert trace.counts == {}


def test_record_unreceived_follows_the_setting(settings: Any) -> None:
    settings.SIGNALTRACE = {"RECORD_UNRECEIVED": True}
    with signaltrace.capture() as trace:
        Signal().send(sender=None)
    assert len(trace.events) == 1


def test_a_setting_given_as_a_list_records_as_a_tuple_would(settings: Any) -> None:
    settings.SIGNALTRACE = {"EXTRA_RECEIVER_MODULES": ["shop.hooks"]}
    signal = Signal()
    signal.connect(takes_payment)

    with signaltrace.capture() as trace:
        signal.send(sender=None, amount=3)

    assert [event.kwargs for event in trace.events] == [{"amount": 3}]


def test_stored_events_are_capped_and_the_rest_counted_as_dropped() -> None:
    signal = Signal()
    signal.connect(takes_payment)
    with signaltrace.capture(max_events=10) as trace:
        for _ in range(25):
            signal.send(sender=None)
    assert len(trace.events) == 10
    assert trace.dropped == 15


def test_a_hot_unreceived_signal_stays_small() -> None:
    with signaltrace.capture() as trace:
        for _ in range(100_000):
            pre_init.send(sender=Author, args=(), kwargs={})
    assert trace.events == []
    assert (
        trace.counts[("django.db.models.signals.pre_init", "tests.app.models.Author")]
        == 100_000
    )
    assert len(trace._counts) == 1


# ---------------------------------------------------------------- nesting


def test_captures_nest_and_the_outer_one_sees_everything(shop: None) -> None:
    with signaltrace.capture() as outer:
        payment_taken.send(sender="before")
        with signaltrace.capture() as inner:
            payment_taken.send(sender="inside")
        payment_taken.send(sender="after")
    assert [e.sender_name for e in outer.events] == ["'before'", "'inside'", "'after'"]
    assert [e.sender_name for e in inner.events] == ["'inside'"]
    assert inner.offset(inner.events[0]) <= outer.offset(inner.events[0])


def test_a_capture_cannot_be_entered_twice() -> None:
    capture = signaltrace.capture()
    with capture, pytest.raises(RuntimeError), capture:
        pass


# -------------------------------------------------------------- isolation


def test_threads_do_not_see_each_others_events() -> None:
    signal = Signal()
    signal.connect(takes_payment)
    traces: dict[int, signaltrace.Trace] = {}
    barrier = threading.Barrier(8)

    def worker(number: int) -> None:
        with signaltrace.capture() as trace:
            barrier.wait()
            for _ in range(50):
                signal.send(sender=None, worker=number)
        traces[number] = trace

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for number, trace in traces.items():
        assert len(trace.events) == 50
        assert {event.kwargs["worker"] for event in trace.events} == {number}
    assert not install.is_installed()


def test_a_thread_without_capture_records_nothing() -> None:
    signal = Signal()
    signal.connect(takes_payment)
    with signaltrace.capture() as trace:
        thread = threading.Thread(target=signal.send, kwargs={"sender": None})
        thread.start()
        thread.join()
    assert trace.events == []


def test_asyncio_tasks_do_not_see_each_others_events() -> None:
    signal = Signal()
    signal.connect(takes_payment)

    async def request(number: int) -> signaltrace.Trace:
        with signaltrace.capture() as trace:
            for _ in range(20):
                signal.send(sender=None, task=number)
                await asyncio.sleep(0)
        return trace

    async def main() -> list[signaltrace.Trace]:
        return await asyncio.gather(*(request(n) for n in range(10)))

    for number, trace in enumerate(asyncio.run(main())):
        assert {event.kwargs["task"] for event in trace.events} == {number}
        assert len(trace.events) == 20


def test_installing_is_thread_safe() -> None:
    signal = Signal()
    signal.connect(takes_payment)

    def worker() -> None:
        for _ in range(200):
            with signaltrace.capture():
                signal.send(sender=None)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not install.is_installed()
    assert Signal.send.__qualname__ == "Signal.send"


# ----------------------------------------------------------------- queries


@pytest.mark.django_db
def test_tracing_adds_no_queries(django_assert_num_queries: Any) -> None:
    author = Author.objects.create(name="ada")

    def receiver(sender: object, instance: Any, **kwargs: Any) -> None:
        pass

    post_save.connect(receiver, sender=Author)
    try:
        with django_assert_num_queries(1):
            author.save()
        with django_assert_num_queries(1), signaltrace.capture() as trace:
            author.save()
        with django_assert_num_queries(0):
            data = trace.to_dict()
    finally:
        post_save.disconnect(receiver, sender=Author)
    assert data["events"][0]["kwargs"]["instance"] == f"<testapp.Author pk={author.pk}>"


# ------------------------------------------------------------ request scope


@pytest.mark.usefixtures("without_connection_closing")
def test_request_tracing_hands_each_finished_trace_to_every_listener() -> None:
    from django.core.signals import request_finished, request_started

    handed: list[tuple[str, Any]] = []
    first = lambda trace: handed.append(("first", trace))  # noqa: E731
    second = lambda trace: handed.append(("second", trace))  # noqa: E731
    request_scope.start_request_tracing(first)
    request_scope.start_request_tracing(second)
    request_scope.start_request_tracing(first)  # already there: not added again
    try:
        request_started.send(sender=None)
        trace = request_scope.request_trace()
        request_finished.send(sender=None)
    finally:
        request_scope.stop_request_tracing()

    assert handed == [("first", trace), ("second", trace)]
    assert not request_scope.is_request_tracing()
    assert not install.is_installed()


# ------------------------------------------------------------------ stacks


def test_stacks_are_not_recorded_by_default(shop: None) -> None:
    with signaltrace.capture() as trace:
        order_placed.send(sender="shop", amount=3)

    assert [event.stack for event in trace.events] == [None, None]


def test_capture_stacks_records_each_kept_send_from_the_outermost_frame(
    shop: None, settings: Any
) -> None:
    settings.SIGNALTRACE = {"CAPTURE_STACKS": True}

    with signaltrace.capture() as trace:
        order_placed.send(sender="shop", amount=3)

    outer, nested = trace.events
    assert outer.stack is not None
    assert nested.stack is not None
    here = outer.stack[-1]
    assert (here.filename, here.function, here.module) == (
        __file__,
        "test_capture_stacks_records_each_kept_send_from_the_outermost_frame",
        __name__,
    )
    assert nested.stack[-1].function == "places_payment"
    assert nested.stack[: len(outer.stack) - 1] == outer.stack[:-1]
    assert not any("signaltrace" in frame.filename for frame in nested.stack)
    assert trace.to_dict()["events"][0]["stack"][-1] == {
        "file": __file__,
        "line": here.lineno,
        "function": here.function,
        "module": __name__,
        "code": 'order_placed.send(sender="shop", amount=3)',
    }


def test_capture_works_without_django_settings() -> None:
    """Plain Signals can be traced in a program that never configures Django."""
    program = textwrap.dedent(
        """
        from django.dispatch import Signal
        import signaltrace

        done = Signal()
        done.connect(lambda sender, **kwargs: "ok", weak=False)
        with signaltrace.capture() as trace:
            print(done.send(sender="job")[0][1], trace.events[0].receivers[0].name)
        """
    )
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok __main__.<lambda>\n"


# ---------------------------------------------------------------- durations

#: How long describing a SlowToDescribe takes: far longer than any send here.
DESCRIBING = 0.2


class SlowToDescribe:
    """A value whose description takes DESCRIBING seconds."""

    def __repr__(self) -> str:
        time.sleep(DESCRIBING)
        return "<slow>"


def test_describing_a_send_is_not_part_of_its_duration(shop: None) -> None:
    started = time.perf_counter()
    with signaltrace.capture() as trace:
        payment_taken.send(sender="shop", value=SlowToDescribe())
    wall = time.perf_counter() - started

    (event,) = trace.events
    assert event.kwargs["value"] == "<slow>"
    assert wall >= DESCRIBING
    assert event.duration < DESCRIBING / 2
    assert trace.duration < DESCRIBING / 2


def test_recording_a_nested_send_is_not_part_of_its_parents_durations() -> None:
    outer, inner = Signal(), Signal()

    def sends_inner(sender: object, **kwargs: Any) -> None:
        inner.send(sender=None, value=SlowToDescribe())

    outer.connect(sends_inner)
    inner.connect(takes_payment)
    with signaltrace.capture() as trace:
        outer.send(sender=None)

    parent, child = trace.events
    (call,) = parent.receivers
    assert child.parent_call is call
    assert call.duration < DESCRIBING / 2
    assert parent.duration < DESCRIBING / 2
    assert 0 < child.duration <= call.duration


def test_recording_a_response_is_not_part_of_the_receivers_duration() -> None:
    signal = Signal()

    def returns_slow(sender: object, **kwargs: Any) -> SlowToDescribe:
        return SlowToDescribe()

    signal.connect(returns_slow)
    with signaltrace.capture() as trace:
        signal.send(sender=None)

    (call,) = trace.events[0].receivers
    assert call.response == "<slow>"
    assert call.duration < DESCRIBING / 2
