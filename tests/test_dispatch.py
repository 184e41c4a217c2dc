"""Recording never fails the program: signaltrace's own failures are contained.

Each test injects a fault into one stage of recording a send, then runs the
same scenario bare and inside a capture (twice there, so that the fault
happens again), and compares what the program observes: the ``(receiver,
response)`` pairs with the original receivers, the receivers called in the
same order with the same arguments, the same exception. The trace notes the
failure, its findings name the stage, and the ``signaltrace`` logger reports
it once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar
from unittest import mock

import django
import pytest
from django.dispatch import Signal

import signaltrace
from signaltrace import dispatch, failures, naming
from signaltrace.assertions import SignalTrace
from signaltrace.sql import QueryStats
from signaltrace.values import Describer

HAS_ASYNC = django.VERSION >= (5, 0)

T = TypeVar("T")


class Failure(Exception):
    """What a failing receiver raises."""


class Fault(Exception):
    """What a fault injected into signaltrace's own code raises."""


def fault(*args: Any, **kwargs: Any) -> Any:
    raise Fault("injected")


@pytest.fixture(autouse=True)
def nothing_logged_yet() -> Iterator[None]:
    """Each test sees its failures logged: the log remembers them process-wide."""
    failures._logged.clear()
    yield
    failures._logged.clear()


# -------------------------------------------------------------- receivers

#: The receiver calls of the current run: (receiver, the arguments it got).
CALLS: list[tuple[str, dict[str, Any]]] = []
#: What the failing receiver raised in the current run.
RAISED: list[BaseException] = []


def _called(label: str, arguments: dict[str, Any], response: T) -> T:
    CALLS.append((label, arguments))
    return response


def function(**arguments: Any) -> str:
    return _called("function", arguments, "function")


def prefixed(prefix: str, **arguments: Any) -> str:
    return _called("partial", arguments, prefix + "partial")


class Handler:
    def method(self, **arguments: Any) -> str:
        return _called("method", arguments, "method")

    def __call__(self, **arguments: Any) -> str:
        return _called("instance", arguments, "instance")


def mocked(**arguments: Any) -> str:
    return _called("mock", arguments, "mock")


def raising(**arguments: Any) -> None:
    CALLS.append(("raising", arguments))
    error = Failure("the receiver's own failure")
    RAISED.append(error)
    raise error


async def coroutine(**arguments: Any) -> str:
    return _called("coroutine", arguments, "coroutine")


class OwnLookup(Signal):
    """A Signal subclass with a receiver lookup of its own, as some libraries have.

    signaltrace leaves such a send to Django's method, and hands it the
    receivers that lookup gives behind proxies.
    """

    def _live_receivers(self, sender: Any) -> Any:
        return super()._live_receivers(sender)


class Way(NamedTuple):
    """How a scenario sends: the method, and what kind of signal it reaches."""

    method: str
    #: Whether an async receiver is connected too: the send is followed
    #: through Django's own method, its receivers called through proxies.
    with_async: bool = False
    #: Whether the signal is an :class:`OwnLookup`.
    own_lookup: bool = False

    def __str__(self) -> str:
        return (
            self.method
            + ("+async" if self.with_async else "")
            + ("+own-lookup" if self.own_lookup else "")
        )


WAYS = [
    Way("send"),
    Way("send_robust"),
    Way("send", own_lookup=True),
    Way("send_robust", own_lookup=True),
]
if HAS_ASYNC:
    WAYS += [
        Way("send", with_async=True),
        Way("send_robust", with_async=True),
        Way("asend", with_async=True),
        Way("asend_robust", with_async=True),
    ]


class Program:
    """A signal with one receiver of each shape, and a way of sending it.

    Receivers: a function, a ``functools.partial``, a bound method (weakly
    connected), a callable instance and a ``Mock``; with *failing*, a
    receiver that raises comes third; with the way's ``with_async``, a
    coroutine function comes last. *first* receivers are connected before
    them and *extra* ones after them; *only_from* connects every receiver
    for that sender alone.
    """

    def __init__(
        self,
        way: Way,
        *,
        failing: bool = False,
        first: tuple[Callable[..., Any], ...] = (),
        extra: tuple[Callable[..., Any], ...] = (),
        only_from: object = None,
    ) -> None:
        self.way = way
        self.signal = OwnLookup() if way.own_lookup else Signal()
        self.handler = Handler()
        self.partial = functools.partial(prefixed, "a ")
        self.mock = mock.Mock(side_effect=mocked)
        receivers: list[Any] = [
            *first,
            function,
            self.partial,
            self.handler.method,
            self.handler,
            self.mock,
        ]
        if failing:
            receivers.insert(len(first) + 2, raising)
        if way.with_async:
            receivers.append(coroutine)
        receivers.extend(extra)
        for receiver in receivers:
            self.signal.connect(
                receiver, sender=only_from, weak=receiver is not self.mock
            )

    def send(self, sender: object = None, **named: Any) -> Any:
        method = getattr(self.signal, self.way.method)
        if not self.way.method.startswith("a"):
            return method(sender=sender, **named)

        async def main() -> Box:
            return Box(await method(sender=sender, **named))

        return asyncio.run(main()).responses


class Box:
    """The responses of an async send, as the result of asyncio.run()'s task.

    asyncio.run() (Python 3.11) reprs its main task when it restores the
    SIGINT handler; a hostile response there would leave the handler set and
    every later asyncio.run() in the process failing.
    """

    def __init__(self, responses: Any) -> None:
        self.responses = responses

    def __repr__(self) -> str:
        return "<Box>"


# -------------------------------------------------------------- observing


class Observed(NamedTuple):
    """What the program observed of one send."""

    #: The (receiver, response) pairs returned, or None when the send raised.
    returned: list[tuple[Any, Any]] | None
    #: What the send raised, or None.
    raised: object
    #: The receiver calls: (receiver, ((argument, its identity), ...)), the
    #: sync receivers in call order, then the async ones (they run concurrently).
    calls: list[tuple[str, tuple[tuple[str, str, int], ...]]]


def _value(value: object) -> object:
    """A value as compared between runs: by identity, for what a run makes."""
    if any(value is error for error in RAISED):
        return "<the error the receiver raised>"
    if type(value) in (Hostile, AttributeHostile):
        return ("<hostile>", id(value))
    return value


def observe(send: Callable[[], Any]) -> Observed:
    """Run *send* and note what the program sees of it."""
    CALLS.clear()
    RAISED.clear()
    returned = raised = None
    try:
        responses = send()
    except Exception as error:
        described = _value(error)
        raised = (
            described if described is not error else (type(error).__name__, str(error))
        )
    else:
        returned = [(receiver, _value(response)) for receiver, response in responses]
    calls = [
        (
            label,
            tuple(
                (name, type(argument).__name__, id(argument))
                for name, argument in sorted(arguments.items())
            ),
        )
        for label, arguments in CALLS
    ]
    ordered = [call for call in calls if call[0] != "coroutine"]
    ordered += sorted(call for call in calls if call[0] == "coroutine")
    return Observed(returned, raised, ordered)


def assert_contained(
    send: Callable[[], Any],
    inject: Callable[[pytest.MonkeyPatch], None],
    stage: str,
    *,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    **capture_options: Any,
) -> SignalTrace:
    """Run *send* bare, then twice under a capture with a fault injected.

    The program must observe the same each time; the trace must note the
    failure at *stage* (each time), its findings name it, and the log report
    it once.
    """
    bare = observe(send)
    caplog.set_level(logging.ERROR, logger="signaltrace")
    with (
        monkeypatch.context() as patch,
        signaltrace.capture(**capture_options) as trace,
    ):
        inject(patch)
        traced = [observe(send), observe(send)]

    assert traced == [bare, bare]
    assert len(trace.recording_errors) >= 2, (
        f"Expected the failure at {stage!r} noted at each send, "
        f"but the trace noted {trace.recording_errors}"
    )
    messages = [f.message for f in trace.findings if f.code == "recording-error"]
    assert any(stage in message for message in messages), (
        f"Expected a recording-error finding naming {stage!r}, found {messages}"
    )
    logged = [r.getMessage() for r in caplog.records if r.name == "signaltrace"]
    assert len(logged) == 1, f"Expected the failure logged once, got {logged}"
    assert stage in logged[0]
    return trace


def cases(ways: list[Way], failing: tuple[bool, ...] = (False, True)) -> list[Any]:
    """Parameters ``(way, failing)``: each way, with and without a failure."""
    return [
        pytest.param(
            way,
            fails,
            id=f"{way}-{'a receiver raises' if fails else 'receivers return'}",
        )
        for way in ways
        for fails in failing
    ]


# ---------------------------------------------------------------- stages


@pytest.mark.parametrize(("way", "failing"), cases(WAYS))
def test_a_failure_describing_the_sender_is_contained(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = Program(way, failing=failing)

    assert_contained(
        lambda: program.send(sender=program, value=1),
        lambda patch: patch.setattr(Describer, "sender", fault),
        "describing a send",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )


@pytest.mark.parametrize(("way", "failing"), cases(WAYS))
def test_a_failure_describing_the_keyword_arguments_is_contained(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = Program(way, failing=failing)

    value = object()

    assert_contained(
        lambda: program.send(sender=None, value=value),
        lambda patch: patch.setattr(Describer, "kwargs", fault),
        "describing a send",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )


@pytest.mark.parametrize(("way", "failing"), cases(WAYS))
def test_a_failure_locating_the_send_is_contained(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = Program(way, failing=failing)

    trace = assert_contained(
        lambda: program.send(sender=None, value=1),
        lambda patch: patch.setattr(dispatch, "_location", fault),
        "locating a send",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )
    assert all(event.location is None for event in trace.events)


@pytest.mark.parametrize(("way", "failing"), cases(WAYS))
def test_a_failure_capturing_the_stack_is_contained(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.SIGNALTRACE = {"CAPTURE_STACKS": True}
    program = Program(way, failing=failing)

    trace = assert_contained(
        lambda: program.send(sender=None, value=1),
        lambda patch: patch.setattr(dispatch, "_stack", fault),
        "capturing the stack of a send",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )
    assert all(event.stack is None for event in trace.events)


def unnameable(patch: pytest.MonkeyPatch) -> None:
    """Make naming a receiver fail, wherever the recorder looks names up.

    The recorder may hold naming's function and cache under its own names;
    an empty cache makes it name every receiver anew.
    """
    for module in (naming, dispatch):
        if hasattr(module, "receiver_info"):
            patch.setattr(module, "receiver_info", fault)
        cache = getattr(module, "receiver_infos", None)
        if cache is not None:
            patch.setattr(module, "receiver_infos", type(cache)())


@pytest.mark.parametrize(("way", "failing"), cases(WAYS))
def test_a_failure_naming_a_receiver_is_contained(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = Program(way, failing=failing)

    trace = assert_contained(
        lambda: program.send(sender=None, value=1),
        unnameable,
        "naming a receiver",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )
    # Every call is still recorded, under a placeholder name.
    assert {call.name for call in trace.receiver_calls} == {"<unknown receiver>"}
    assert len(trace.receiver_calls) == 2 * len(CALLS)


@pytest.mark.parametrize(("way", "failing"), cases(WAYS))
def test_a_failure_describing_a_response_is_contained(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = Program(way, failing=failing)

    # No keyword argument: describing the send itself does not call describe().
    assert_contained(
        lambda: program.send(sender=None),
        lambda patch: patch.setattr(Describer, "describe", fault),
        "describing",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )


#: Why a failure describing an exception is never noted, whatever the way.
_NOTED_WITH_THE_FAILING_DESCRIBER = (
    "trace.Trace.note_recording_error() describes the failure with "
    "Describer.error(), the very method that failed, and dispatch._note() "
    "suppresses what that raises: the failure is logged but never noted"
)


@pytest.mark.parametrize(("way", "failing"), cases(WAYS, failing=(True,)))
def test_a_failure_describing_an_exception_is_contained(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = Program(way, failing=failing)

    assert_contained(
        lambda: program.send(sender=None, value=1),
        lambda patch: patch.setattr(Describer, "error", fault),
        "describing an exception",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )


@pytest.mark.parametrize("way", WAYS, ids=str)
@pytest.mark.parametrize("record_unreceived", [False, True], ids=["counted", "kept"])
def test_a_failure_noting_a_send_no_receiver_can_reach_is_contained(
    way: Way,
    record_unreceived: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = Program(way)
    program.signal.receivers.clear()  # Django's first test answers []
    stage = "describing a send" if record_unreceived else "counting a send"
    broken = (Describer, "sender") if record_unreceived else (dispatch, "_count")

    assert_contained(
        lambda: program.send(sender=None, value=1),
        lambda patch: patch.setattr(*broken, fault),
        stage,
        caplog=caplog,
        monkeypatch=monkeypatch,
        record_unreceived=record_unreceived,
    )


@pytest.mark.parametrize("way", WAYS, ids=str)
def test_a_failure_ending_the_record_of_an_unreceived_send_is_contained(
    way: Way,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    someone = object()
    program = Program(way, only_from=someone)

    bare = observe(lambda: program.send(sender=None, value=1))
    # Past Django's first test (the signal has receivers), none for this sender.
    assert bare.returned == []

    assert_contained(
        lambda: program.send(sender=None, value=1),
        lambda patch: patch.setattr(dispatch, "_unreceived", fault),
        "ending the record of a send",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )


def nested(send: Callable[[], Any]) -> Callable[[], Any]:
    """*send*, made from inside the receiver of another signal's send()."""
    outer = Signal()

    def relay(**arguments: Any) -> Any:
        return send()

    outer.connect(relay, weak=False)

    def run() -> Any:
        ((_, responses),) = outer.send(sender=None)
        return responses

    return run


@pytest.mark.parametrize(("way", "failing"), cases(WAYS))
def test_a_failure_ending_the_record_of_a_nested_send_is_contained(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = Program(way, failing=failing)

    trace = assert_contained(
        nested(lambda: program.send(sender=None, value=1)),
        lambda patch: patch.setattr(dispatch, "_take_off", fault),
        "ending the record of a send",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )
    assert all(
        event.depth == 1 for event in trace.events if event.signal is program.signal
    )


def count_authors(**arguments: Any) -> int:
    from tests.app.models import Author

    return _called("count_authors", arguments, Author.objects.count())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("way", "failing"),
    # Receivers are timed (and their queries counted) only on these ways; the
    # async sends run sync receivers in another thread, outside the test's
    # transaction.
    cases(
        [w for w in WAYS if not w.own_lookup and not w.method.startswith("a")],
    ),
)
def test_a_failure_counting_a_query_is_contained_and_the_query_result_stands(
    way: Way,
    failing: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.app.models import Author

    Author.objects.create(name="ada")
    program = Program(way, failing=failing, first=(count_authors,))

    trace = assert_contained(
        lambda: program.send(sender=None, value=1),
        lambda patch: patch.setattr(QueryStats, "add", fault),
        "counting a query",
        caplog=caplog,
        monkeypatch=monkeypatch,
    )
    # The receiver got the query's result, at each send (compared with the
    # bare run above), and returned it.
    counted = [call for call in trace.receiver_calls if call.name.endswith("authors")]
    assert [call.response for call in counted] == [1, 1]


# -------------------------------------------------------- hostile values


class Boom(Exception):
    """What every way of looking at a hostile value raises."""


class Hostile:
    """A value no code may look at: every way of inspecting it raises.

    It keeps ``object``'s hash: Django's sender cache is a dict.
    """

    def __repr__(self) -> str:
        raise Boom("__repr__")

    def __getattr__(self, name: str) -> Any:
        raise Boom(f"__getattr__({name!r})")

    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__")

    __hash__ = object.__hash__

    def __len__(self) -> int:
        raise Boom("__len__")

    def __iter__(self) -> Iterator[Any]:
        raise Boom("__iter__")

    def __bool__(self) -> bool:
        raise Boom("__bool__")

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # type: ignore[override]
        raise Boom("__class__")


class AttributeHostile(Hostile):
    """A hostile value whose missing attributes are missing (AttributeError).

    Django's own lookup asks a sender ``hasattr(sender, "__func__")``, which
    a hostile value answers with its exception.
    """

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def _placeholder(trace: SignalTrace, value: object) -> str:
    placeholder = trace.describer.text(value)
    assert placeholder.startswith("<")
    assert type(value).__qualname__ in placeholder
    return placeholder


@pytest.mark.parametrize("keep_values", [False, True], ids=["described", "kept"])
@pytest.mark.parametrize("way", WAYS, ids=str)
def test_a_hostile_keyword_argument_reaches_the_receivers_and_is_shown_as_a_placeholder(
    way: Way, keep_values: bool
) -> None:
    program = Program(way)
    hostile = Hostile()

    bare = observe(lambda: program.send(sender=None, value=hostile))
    with signaltrace.capture(keep_values=keep_values) as trace:
        traced = observe(lambda: program.send(sender=None, value=hostile))

    assert traced == bare
    assert bare.raised is None
    assert CALLS
    assert all(arguments["value"] is hostile for _, arguments in CALLS)
    placeholder = _placeholder(trace, hostile)
    assert [event.kwargs["value"] for event in trace.events] == [placeholder]
    assert trace.recording_errors == []
    json.dumps(trace.to_dict())


@pytest.mark.parametrize("keep_values", [False, True], ids=["described", "kept"])
@pytest.mark.parametrize("cls", [Hostile, AttributeHostile])
@pytest.mark.parametrize("way", WAYS, ids=str)
def test_a_hostile_sender_is_sent_as_django_sends_it_and_shown_as_a_placeholder(
    way: Way, cls: type[Hostile], keep_values: bool
) -> None:
    program = Program(way)
    hostile = cls()

    bare = observe(lambda: program.send(sender=hostile))
    with signaltrace.capture(keep_values=keep_values) as trace:
        traced = observe(lambda: program.send(sender=hostile))

    assert traced == bare
    if cls is AttributeHostile:
        assert bare.raised is None
        assert CALLS
        assert all(arguments["sender"] is hostile for _, arguments in CALLS)
    else:  # Django's own lookup fails on it: so does the traced send, the same way
        assert bare.raised == ("Boom", "__getattr__('__func__')")
    placeholder = _placeholder(trace, hostile)
    # An event, or a count for a send that raised before reaching a receiver.
    shown = [event.sender_name for event in trace.events]
    shown += [sender for _, sender in trace.counts]
    assert shown == [placeholder]
    assert trace.recording_errors == []
    json.dumps(trace.to_dict())


@pytest.mark.parametrize("keep_values", [False, True], ids=["described", "kept"])
@pytest.mark.parametrize(("way", "failing"), cases(WAYS, failing=(False,)))
def test_a_hostile_response_is_returned_as_django_returns_it_and_shown_as_a_placeholder(
    way: Way, failing: bool, keep_values: bool
) -> None:
    hostile = Hostile()

    def returns_hostile(**arguments: Any) -> Hostile:
        return _called("returns_hostile", arguments, hostile)

    program = Program(way, extra=(returns_hostile,))

    bare = observe(lambda: program.send(sender=None))
    with signaltrace.capture(keep_values=keep_values) as trace:
        traced = observe(lambda: program.send(sender=None))

    assert traced == bare
    assert bare.returned is not None
    assert (returns_hostile, ("<hostile>", id(hostile))) in bare.returned
    placeholder = _placeholder(trace, hostile)
    (event,) = trace.events
    (call,) = [call for call in event.receivers if call.name.endswith("hostile")]
    assert call.response == placeholder
    assert trace.recording_errors == []
    json.dumps(trace.to_dict())


# ------------------------------------------------ what the trace shows


def test_a_raising_send_of_a_signal_with_its_own_lookup_is_kept_with_its_error() -> (
    None
):
    program = Program(Way("send", own_lookup=True), failing=True)

    with signaltrace.capture() as trace, pytest.raises(Failure):
        program.send(sender=None)

    assert trace.counts == {}
    (event,) = trace.events
    assert event.error is not None
    assert event.error.name == "Failure"
