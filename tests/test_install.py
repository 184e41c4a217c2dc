"""A guarded fast path: signaltrace runs Django's loop only where it was verified.

On a Django whose send methods are in ``install.VERIFIED``, the wrappers of
``send()`` (and ``send_robust()``) call the receivers themselves. On any
other, every send goes through Django's own method, the receivers called
through proxies: each behaviour the same as bare Django's, compared here by
running each scenario without and with a capture, and ``manage.py check``
says so once (``signaltrace.I001``).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import io
import logging
import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import django
import pytest
from django.core import checks
from django.core.management import call_command
from django.db import connections
from django.dispatch import Signal, dispatcher

import signaltrace
from signaltrace import install, queries

HAS_ASYNC = django.VERSION >= (5, 0)
needs_async = pytest.mark.skipif(not HAS_ASYNC, reason="async sends: Django 5.0+")

#: The send methods, with the async ones where Django has them.
METHODS = ["send", "send_robust"] + (["asend", "asend_robust"] if HAS_ASYNC else [])
ROBUST_METHODS = [method for method in METHODS if method.endswith("robust")]
_SIGNALTRACE_DIR = str(Path(signaltrace.__file__).parent) + "/"


class Failure(Exception):
    pass


class Stop(BaseException):
    """Not an Exception: send_robust lets it through."""


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


def receivers_of_every_shape(signal: Signal) -> list[Any]:
    """Connect a function, a partial, a bound method, a callable instance and a Mock.

    Returns them (strong references: the bound method's object, last).
    """
    handler = Handler()
    partial = functools.partial(with_prefix, "a ")
    a_mock = mock.Mock(return_value="mock")
    receivers: list[Any] = [plain, partial, handler.method, handler, a_mock]
    for receiver in receivers:
        signal.connect(receiver, weak=receiver is not a_mock)
    return [*receivers, handler]


def send(signal: Signal, method: str, **named: Any) -> Any:
    """Send *signal* with *method*, running the async ones to completion."""
    if method.startswith("a"):
        return asyncio.run(getattr(signal, method)(sender=None, **named))
    return getattr(signal, method)(sender=None, **named)


def both(scenario: Callable[[], Any]) -> tuple[Any, Any]:
    """Run *scenario* bare, then inside a capture; return both results."""
    bare = scenario()
    with signaltrace.capture():
        traced = scenario()
    return bare, traced


def callers(error: BaseException) -> list[str]:
    """Whose frames a receiver's error went through, outermost first.

    ``"django"`` for Django's dispatcher, ``"signaltrace"`` for signaltrace's
    own code, ``"other"`` for the rest (the test, the receiver).
    """
    kinds = []
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == dispatcher.__file__:
            kinds.append("django")
        elif frame.filename.startswith(_SIGNALTRACE_DIR):
            kinds.append("signaltrace")
        else:
            kinds.append("other")
    return kinds


@pytest.fixture
def unknown_dispatcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Django whose send methods signaltrace was never verified against."""
    assert not install.is_installed(), "the wrappers would keep their fast path"
    monkeypatch.setattr(
        install, "VERIFIED", {path: frozenset() for path in install.VERIFIED}
    )


# ------------------------------------------------------------ fast_path()


def test_the_fast_path_holds_send_on_this_django() -> None:
    assert "send" in install.fast_path(), (
        f"Signal.send() of Django {django.get_version()} is not in "
        f"signaltrace.install.VERIFIED: its fingerprints are {install.fingerprints()}"
    )


@pytest.mark.skipif(
    django.VERSION < (5, 0), reason="Django 4.2 logs from send_robust() itself"
)
def test_the_fast_path_holds_send_robust_on_this_django() -> None:
    assert "send_robust" in install.fast_path(), (
        f"Signal.send_robust() of Django {django.get_version()} is not in "
        f"signaltrace.install.VERIFIED: its fingerprints are {install.fingerprints()}"
    )


def test_an_unverified_dispatcher_has_no_fast_path(unknown_dispatcher: None) -> None:
    assert install.fast_path() == frozenset()


def test_a_dispatcher_with_unknown_fingerprints_has_no_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fingerprints are worked out once per set of methods.
    install._fingerprints.cache_clear()
    monkeypatch.setattr(install, "fingerprint", lambda function: "unknown")
    try:
        assert install.fast_path() == frozenset()
    finally:
        install._fingerprints.cache_clear()


# --------------------------------------- an unknown dispatcher, bare and traced


@pytest.mark.parametrize("method", METHODS)
def test_every_send_returns_the_original_receivers_and_responses_in_order(
    method: str, unknown_dispatcher: None
) -> None:
    signal = Signal()
    keep = receivers_of_every_shape(signal)
    if method.startswith("a"):
        signal.connect(coroutine)

    bare, traced = both(lambda: send(signal, method, value=1))

    assert traced == bare
    assert [receiver for receiver, _ in bare] == [*keep[:5], coroutine][: len(bare)]
    assert [response for _, response in bare][:5] == [
        "plain",
        "a partial",
        "method",
        "instance",
        "mock",
    ]


@pytest.mark.parametrize("method", ROBUST_METHODS)
def test_robust_sends_return_the_same_error_objects(
    method: str, unknown_dispatcher: None
) -> None:
    error = Failure("the one")

    def raiser(sender: object, **kwargs: Any) -> None:
        raise error

    signal = Signal()
    keep = receivers_of_every_shape(signal)
    signal.connect(raiser)

    bare, traced = both(lambda: send(signal, method))

    assert [r for r, _ in traced] == [r for r, _ in bare] == [*keep[:5], raiser]
    assert bare[-1][1] is traced[-1][1] is error


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("send", Failure("the one")),
        ("send_robust", Stop()),
        *([("asend", Failure("the async one"))] if HAS_ASYNC else []),
    ],
)
def test_a_receivers_exception_propagates_as_the_same_object(
    method: str, error: BaseException, unknown_dispatcher: None
) -> None:
    def raiser(sender: object, **kwargs: Any) -> None:
        raise error

    signal = Signal()
    signal.connect(raiser)
    signal.connect(plain)

    def scenario() -> BaseException:
        with pytest.raises(type(error)) as info:
            send(signal, method)
        return info.value

    bare, traced = both(scenario)
    assert bare is traced is error


@pytest.mark.parametrize("method", ROBUST_METHODS)
def test_robust_sends_log_through_django_dispatch_as_bare_django(
    method: str, unknown_dispatcher: None, caplog: pytest.LogCaptureFixture
) -> None:
    signal = Signal()
    signal.connect(failing)

    def scenario() -> list[tuple[Any, ...]]:
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="django.dispatch"):
            responses = send(signal, method)
        return [
            (
                record.name,
                record.levelno,
                record.getMessage(),
                record.exc_info[1] is responses[0][1],  # type: ignore[index]
                record.pathname,
                record.funcName,
            )
            for record in caplog.records
        ]

    bare, traced = both(scenario)
    assert bare == traced
    assert len(bare) == 1
    assert bare[0][2].startswith("Error calling failing in Signal.send_robust()")


def test_a_failing_partial_in_send_robust_behaves_as_in_bare_django(
    unknown_dispatcher: None,
) -> None:
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


@pytest.mark.parametrize("method", [m for m in METHODS if m != "asend_robust"])
def test_weak_receivers_are_collected_while_a_capture_is_active(
    method: str, unknown_dispatcher: None
) -> None:
    signal = Signal()
    handler = Handler()
    signal.connect(handler.method)

    def temporary(sender: object, **kwargs: Any) -> str:
        return "temporary"

    signal.connect(temporary)

    with signaltrace.capture() as trace:
        send(signal, method)
        refs = [weakref.ref(handler), weakref.ref(temporary)]
        assert len(trace.events[0].receivers) == len(refs)
        del handler, temporary
        gc.collect()
        assert [ref() for ref in refs] == [None, None]
        assert send(signal, method) == []


@pytest.mark.parametrize("method", METHODS)
def test_the_trace_records_every_receiver_call_with_its_name_and_response(
    method: str, unknown_dispatcher: None
) -> None:
    signal = Signal()
    keep = receivers_of_every_shape(signal)

    with signaltrace.capture() as trace:
        send(signal, method)

    (event,) = trace.events
    assert [(call.name, call.response) for call in event.receivers] == [
        ("tests.test_install.plain", "plain"),
        ("functools.partial(tests.test_install.with_prefix)", "a partial"),
        ("tests.test_install.Handler.method", "method"),
        ("tests.test_install.Handler.__call__", "instance"),
        ("unittest.mock.Mock(mock)", "mock"),
    ]
    assert keep


@pytest.mark.parametrize("method", ["send", "send_robust"])
def test_an_unknown_dispatchers_receivers_are_called_by_djangos_method_via_proxies(
    method: str, unknown_dispatcher: None
) -> None:
    signal = Signal()
    signal.connect(failing)

    with signaltrace.capture() as trace:
        error = _receivers_error(signal, method)

    kinds = callers(error)
    assert "django" in kinds, kinds
    # After Django's own method: signaltrace's proxy, then the receiver.
    last_django = len(kinds) - 1 - kinds[::-1].index("django")
    assert kinds[last_django + 1 :] == ["signaltrace", "other"]
    (call,) = trace.events[0].receivers
    assert call.error is not None
    assert call.error.name == "Failure"


@pytest.mark.parametrize("method", ["send", "send_robust"] if HAS_ASYNC else ["send"])
def test_a_verified_dispatchers_receivers_are_called_by_signaltrace_itself(
    method: str,
) -> None:
    signal = Signal()
    signal.connect(failing)

    with signaltrace.capture():
        error = _receivers_error(signal, method)

    kinds = callers(error)
    assert "django" not in kinds, kinds
    assert kinds[-2:] == ["signaltrace", "other"]


def _receivers_error(signal: Signal, method: str) -> BaseException:
    """What the receiver raised: propagated by send(), returned by send_robust()."""
    if method == "send":
        with pytest.raises(Failure) as info:
            signal.send(sender=None)
        return info.value
    ((_, error),) = signal.send_robust(sender=None)
    assert isinstance(error, Failure)
    return error


def test_another_tools_wrapper_of_send_still_runs_when_made_with_functools_wraps() -> (
    None
):
    seen: list[object] = []
    djangos = Signal.send

    @functools.wraps(djangos)
    def wrapper(self: Signal, sender: object, **named: Any) -> Any:
        seen.append(sender)
        return djangos(self, sender, **named)

    signal = Signal()
    signal.connect(plain)
    with mock.patch.object(Signal, "send", wrapper):
        bare, traced = both(lambda: signal.send(sender="s"))

    assert bare == traced == [(plain, "plain")]
    assert seen == ["s", "s"]


# ------------------------------------------------------------ manage.py check


def _check_output() -> str:
    stdout, stderr = io.StringIO(), io.StringIO()
    # The signals checks: others of the project may need the database.
    call_command("check", "--tag", "signals", stdout=stdout, stderr=stderr)
    return stdout.getvalue() + stderr.getvalue()


def _dispatcher_messages() -> list[checks.CheckMessage]:
    return [
        m for m in checks.run_checks(tags=["signals"]) if m.id == "signaltrace.I001"
    ]


def test_check_reports_an_unknown_dispatcher_once(unknown_dispatcher: None) -> None:
    output = _check_output()

    assert output.count("signaltrace.I001") == 1, output
    assert "INFOS:" in output


def test_an_unknown_dispatcher_is_reported_as_information(
    unknown_dispatcher: None,
) -> None:
    (message,) = _dispatcher_messages()

    assert message.level == checks.INFO
    assert "Signal.send()" in message.msg
    assert django.get_version() in message.msg


def test_check_says_nothing_of_a_verified_dispatcher() -> None:
    assert "signaltrace.I001" not in _check_output()
    assert _dispatcher_messages() == []


def test_check_says_nothing_of_a_verified_dispatcher_while_a_capture_records() -> None:
    with signaltrace.capture():
        assert install.is_installed()
        assert "signaltrace.I001" not in _check_output()


@pytest.fixture
def two_removals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The wrappers may come off twice; Django's methods are put back after."""
    monkeypatch.setattr(install, "REMOVALS", 2)
    monkeypatch.setattr(install, "_removed", 0)
    yield
    with install._lock:
        if install._users == 0:
            install._uninstall()


def test_after_its_removals_the_wrappers_stay_on_and_record_only_captures(
    two_removals: None, caplog: pytest.LogCaptureFixture
) -> None:
    signal = Signal()
    signal.connect(plain)
    for _ in range(2):
        with signaltrace.capture():
            signal.send(sender=None)
        assert not install.is_installed()
    with caplog.at_level(logging.INFO, logger="signaltrace"):
        with signaltrace.capture() as first:
            signal.send(sender=None)
        assert install.is_installed()
        # Nothing records: the send passes through, as Django's would.
        assert signal.send(sender=None, a=1) == [(plain, "plain")]
        with signaltrace.capture() as second:
            signal.send(sender=None, b=2)
    assert install.is_installed()
    assert [event.kwargs for event in first.events] == [{}]
    assert [event.kwargs for event in second.events] == [{"b": 2}]
    kept = [r for r in caplog.records if "stay on" in r.getMessage()]
    assert len(kept) == 1, caplog.records
    assert kept[0].levelno == logging.INFO
    # The queries are no longer followed: no wrapper is left in connections.
    assert all(
        queries._record not in connection.execute_wrappers
        for connection in connections.all(initialized_only=True)
    )
