"""What the request surfaces show and count (signaltrace.shown), from real captures.

Each trace is captured as a request makes it: ``request_started``, the
view's sends, the sends the toolbar makes for its own panels, then
``request_finished``, whose receiver sends more once the response is out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from debug_toolbar.panels.staticfiles import record_static_file_signal
from debug_toolbar.toolbar import DebugToolbar
from django.core.signals import request_finished, request_started
from django.test.signals import template_rendered

import signaltrace
from signaltrace.shown import INSTRUMENTATION_SIGNALS, REQUEST_FINISHED, Totals, shown
from tests.app.views import (
    FLUSH_UID,
    flush_queue,
    marker_sent,
    outer_sent,
    unheard,
)

pytestmark = pytest.mark.usefixtures("without_connection_closing")


def _fail(sender: object, **kwargs: object) -> None:
    raise ValueError("the audit log is down")


def _keep(sender: object, **kwargs: object) -> None:
    """What the toolbar's templates and static files panels connect."""


@pytest.fixture
def toolbar_panels() -> Iterator[None]:
    """Receivers on the toolbar's signals, as its panels connect them."""
    template_rendered.connect(_keep)
    record_static_file_signal.connect(_keep)
    yield
    template_rendered.disconnect(_keep)
    record_static_file_signal.disconnect(_keep)


def _toolbar_sends() -> None:
    """The sends the toolbar makes for itself while a request runs."""
    DebugToolbar._created.send(sender=None, toolbar=None)  # no receiver: counted
    template_rendered.send(sender=None, template="page.html", context={})
    record_static_file_signal.send(sender=None, staticfiles_finder=None, path="a.css")


def _request(*sends: Callable[[], object], flush: bool = True) -> dict[str, Any]:
    """The trace of a request making *sends*; request_finished then flushes two."""
    with signaltrace.capture() as trace:
        request_started.send(sender=None, environ={})
        for send in sends:
            send()
        if flush:
            request_finished.connect(flush_queue, dispatch_uid=FLUSH_UID)
        request_finished.send(sender=None)
    return trace.to_dict()


def _marker() -> None:
    marker_sent.send(sender=None, marker="view")


def _nested() -> None:
    outer_sent.send(sender=None, level="outer")


def _signals(trace: dict[str, Any]) -> list[str]:
    return [event["signal"].rpartition(".")[2] for event in trace["events"]]


# --------------------------------------------------------- before and after


def test_the_sends_before_the_response_are_counted() -> None:
    trace = _request(_marker, _nested)

    split = shown(trace)

    assert _signals(split.trace)[: split.response_at] == [
        "request_started",
        "marker_sent",
        "outer_sent",
        "inner_sent",
    ]
    events = split.trace["events"][: split.response_at]
    assert split.before == Totals(
        sends=4,
        receiver_calls=sum(len(event["receivers"]) for event in events),
        errors=0,
        signal_ms=round(
            sum(event["duration_ms"] for event in events if event["parent"] is None),
            4,
        ),
    )


def test_request_finished_and_the_sends_of_its_receivers_are_counted_after() -> None:
    split = shown(_request(_marker))

    after = split.trace["events"][split.response_at :]
    assert split.trace["events"][split.response_at]["signal"] == REQUEST_FINISHED
    assert _signals({"events": after}) == ["request_finished", "flushed", "flushed"]
    assert split.after.sends == 3
    assert split.after.receiver_calls == sum(len(event["receivers"]) for event in after)


def test_signal_time_counts_nested_sends_once() -> None:
    split = shown(_request(_nested, flush=False))

    outer = next(
        event
        for event in split.trace["events"]
        if event["signal"].endswith("outer_sent")
    )
    started = split.trace["events"][0]
    assert split.before.signal_ms == round(
        started["duration_ms"] + outer["duration_ms"], 4
    )


def test_receiver_calls_that_raised_are_errors() -> None:
    marker_sent.connect(_fail)
    try:
        trace = _request(lambda: marker_sent.send_robust(sender=None, marker="x"))
    finally:
        marker_sent.disconnect(_fail)

    assert shown(trace).before.errors == 1


def test_a_trace_outside_a_request_is_all_before() -> None:
    with signaltrace.capture() as capture:
        _marker()
        _nested()
    trace = capture.to_dict()

    split = shown(trace)

    assert split.response_at == len(trace["events"]) == 3
    assert split.after == Totals()
    assert split.before.sends == 3


def test_a_request_finished_sent_by_a_receiver_is_not_the_response() -> None:
    def finish_early(sender: object, **kwargs: object) -> None:
        request_finished.send(sender=None)

    marker_sent.connect(finish_early)
    try:
        trace = _request(_marker, flush=False)
    finally:
        marker_sent.disconnect(finish_early)

    split = shown(trace)

    # Nested in marker_sent: counted before; the last one is the response.
    assert _signals(split.trace)[split.response_at :] == ["request_finished"]
    assert split.response_at == len(split.trace["events"]) - 1


# ---------------------------------------------------- the toolbar's own sends


@pytest.mark.usefixtures("toolbar_panels")
def test_the_toolbars_own_sends_are_left_out_and_counted_apart() -> None:
    trace = _request(_marker, _toolbar_sends)
    names = {event["signal"] for event in trace["events"]}
    names |= {count["signal"] for count in trace["counts"]}
    assert set(INSTRUMENTATION_SIGNALS) <= names  # recorded, named

    split = shown(trace)

    assert split.hidden == 3
    assert not set(INSTRUMENTATION_SIGNALS) & {
        event["signal"] for event in split.trace["events"]
    }
    assert not set(INSTRUMENTATION_SIGNALS) & {
        count["signal"] for count in split.trace["counts"]
    }
    assert split.before.sends == 2  # request_started and the marker


@pytest.mark.usefixtures("toolbar_panels")
def test_a_send_made_inside_a_left_out_send_hangs_from_the_nearest_shown_one() -> None:
    def on_template(sender: object, **kwargs: object) -> None:
        _marker()

    template_rendered.connect(on_template)
    try:
        trace = _request(
            lambda: outer_sent.send(sender=None, level="outer"),
            lambda: template_rendered.send(sender=None, template="t", context={}),
            flush=False,
        )
    finally:
        template_rendered.disconnect(on_template)

    split = shown(trace)

    marker = next(
        event
        for event in split.trace["events"]
        if event["signal"].endswith("marker_sent")
    )
    assert (marker["parent"], marker["depth"]) == (None, 0)
    assert split.hidden == 1
    assert split.before.sends == 4  # request_started, outer, inner, the marker


def test_sends_that_reached_no_receiver_are_neither_shown_nor_counted() -> None:
    trace = _request(lambda: [unheard.send(sender=None) for _ in range(3)])

    split = shown(trace)

    assert "unheard" not in _signals(split.trace)
    assert split.before.sends == 1  # request_started
    assert split.hidden == 0
    assert split.trace["counts"] == trace["counts"]


@pytest.mark.usefixtures("toolbar_panels")
def test_the_trace_given_is_left_as_it_was() -> None:
    trace = _request(_marker, _nested, _toolbar_sends)
    before = copy.deepcopy(trace)

    shown(trace)

    assert trace == before
