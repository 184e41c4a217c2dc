"""The Trace API: events, roots, filter, duration and the stable to_dict() format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db.models.signals import post_save
from django.dispatch import Signal

import signaltrace
from tests.app.models import Author

checkout = Signal()
receipt_sent = Signal()


def sends_receipt(sender: object, **kwargs: Any) -> str:
    receipt_sent.send(sender=sender, password="hunter2", html="<script>x</script>")
    return "ok"


def fails(sender: object, **kwargs: Any) -> None:
    raise ValueError("no stock")


@pytest.fixture
def trace() -> Any:
    checkout.connect(sends_receipt)
    receipt_sent.connect(fails)
    try:
        with signaltrace.capture() as trace:
            checkout.send_robust(sender="shop", order=7)
            receipt_sent.send_robust(sender="mail")
    finally:
        checkout.disconnect(sends_receipt)
        receipt_sent.disconnect(fails)
    return trace


def test_events_are_in_start_order_and_roots_are_the_top_level_sends(
    trace: Any,
) -> None:
    assert [(e.name.rpartition(".")[2], e.depth) for e in trace.events] == [
        ("checkout", 0),
        ("receipt_sent", 1),
        ("receipt_sent", 0),
    ]
    assert trace.roots == [trace.events[0], trace.events[2]]


def test_filter_by_signal_object_name_or_last_part(trace: Any) -> None:
    assert trace.filter(checkout) == trace.events[:1]
    assert trace.filter("tests.test_trace.receipt_sent") == trace.events[1:]
    assert trace.filter("receipt_sent") == trace.events[1:]
    assert trace.filter("sent") == []


def test_filter_by_sender_and_kwargs(trace: Any) -> None:
    assert trace.filter(sender="mail") == trace.events[2:]
    assert trace.filter(receipt_sent, sender="shop") == trace.events[1:2]
    assert trace.filter(order=7) == trace.events[:1]
    assert trace.filter(order=8) == []


@pytest.mark.django_db
def test_filter_by_model_sender_object_or_dotted_path() -> None:
    def noop(sender: object, **kwargs: Any) -> None:
        pass

    post_save.connect(noop)
    try:
        with signaltrace.capture() as trace:
            Author.objects.create(name="ada")
    finally:
        post_save.disconnect(noop)
    assert trace.filter(post_save, sender=Author) == trace.events
    assert trace.filter("post_save", sender="tests.app.models.Author") == trace.events
    assert trace.filter("post_save", sender="Author") == trace.events


def test_duration_counts_top_level_sends_once(trace: Any) -> None:
    roots = trace.roots
    assert trace.duration == pytest.approx(roots[0].duration + roots[1].duration)
    assert trace.duration <= trace.elapsed


def test_to_dict_is_json_safe_with_the_documented_keys(trace: Any) -> None:
    data = json.loads(json.dumps(trace.to_dict()))
    assert set(data) == {
        "started_at",
        "duration_ms",
        "elapsed_ms",
        "response_ms",
        "events",
        "counts",
        "dropped",
        "recording_errors",
        "tasks",
        "findings",
    }
    first, nested, last = data["events"]
    assert set(first) >= {
        "id",
        "parent",
        "signal",
        "sender",
        "method",
        "kwargs",
        "start_ms",
        "duration_ms",
        "depth",
        "location",
        "receivers",
        "error",
        "error_type",
    }
    assert first["signal"] == "tests.test_trace.checkout"
    assert first["sender"] == "'shop'"
    assert first["method"] == "send_robust"
    assert first["kwargs"] == {"order": 7}
    assert first["location"]["file"] == __file__
    assert first["receivers"][0]["name"] == "tests.test_trace.sends_receipt"
    # The nested send raised through sends_receipt; send_robust caught it there.
    assert first["receivers"][0]["error"] == "ValueError: no stock"
    assert nested["error"] == "ValueError: no stock"
    assert nested["error_type"] == "builtins.ValueError"
    assert set(first["receivers"][0]) >= {"name", "duration_ms", "error"}
    assert (nested["parent"], nested["depth"]) == (0, 1)
    assert last["receivers"][0]["error"] == "ValueError: no stock"


def test_to_dict_masks_secrets_and_leaves_escaping_to_html(trace: Any) -> None:
    kwargs = trace.to_dict()["events"][1]["kwargs"]
    assert kwargs["password"] == "********************"
    assert kwargs["html"] == "<script>x</script>"


def test_to_dict_lists_counts_and_dropped() -> None:
    def noop(sender: object, **kwargs: Any) -> None:
        pass

    receipt_sent.connect(noop)
    try:
        with signaltrace.capture(max_events=1) as trace:
            checkout.send(sender=None)
            checkout.send(sender=None)
            receipt_sent.send(sender=None)
            receipt_sent.send(sender=None)
    finally:
        receipt_sent.disconnect(noop)
    data = trace.to_dict()
    assert len(data["events"]) == 1
    assert data["dropped"] == 1
    assert data["counts"] == [
        {"signal": "tests.test_trace.checkout", "sender": "None", "count": 2}
    ]


def sends_twice(signal: Signal) -> None:
    signal.send(sender=None, step=1)
    signal.send(sender=None, step=2)


def test_stacks_in_json_show_each_send_its_own_line_under_the_frames_they_share(
    settings: Any,
) -> None:
    settings.SIGNALTRACE = {"CAPTURE_STACKS": True}
    signal = Signal()
    signal.connect(lambda sender, **kwargs: None, weak=False)

    with signaltrace.capture() as trace:
        sends_twice(signal)

    first, second = (
        event["stack"] for event in json.loads(json.dumps(trace.to_dict()))["events"]
    )
    assert first[:-1] == second[:-1]
    assert first[-1]["function"] == second[-1]["function"] == "sends_twice"
    assert second[-1]["line"] == first[-1]["line"] + 1
    assert [frame.to_dict() for frame in trace.events[0].stack or ()] == first


def test_events_and_calls_can_be_weakly_referenced() -> None:
    import weakref

    signal = Signal()
    signal.connect(lambda sender, **kwargs: None, weak=False)
    with signaltrace.capture() as trace:
        signal.send(sender=None)
    event = trace.events[0]

    assert weakref.ref(event)() is event
    assert weakref.ref(event.receivers[0])() is event.receivers[0]


def test_one_code_run_from_two_modules_shows_each_frames_module_in_json(
    settings: Any,
) -> None:
    import types

    settings.SIGNALTRACE = {"CAPTURE_STACKS": True}
    signal = Signal()
    signal.connect(lambda sender, **kwargs: None, weak=False)
    code = compile("def fire():\n    signal.send(sender=None)\n", "<shared>", "exec")
    hidden: dict[str, Any] = {"__name__": "debug_toolbar.hidden", "signal": signal}
    exec(code, hidden)
    shown = {"__name__": "shop.views", "signal": signal}
    fire_shown = types.FunctionType(hidden["fire"].__code__, shown, "fire")

    with signaltrace.capture() as trace:
        hidden["fire"]()
        fire_shown()

    modules = [event["stack"][-1]["module"] for event in trace.to_dict()["events"]]
    assert modules == ["debug_toolbar.hidden", "shop.views"]
