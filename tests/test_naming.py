"""Signals, receivers and senders are named by the dotted paths users type."""

from __future__ import annotations

import functools
from typing import Any
from unittest import mock

from django.contrib.auth import signals as auth_signals
from django.core import signals as core_signals
from django.db.models import signals as model_signals
from django.dispatch import Signal

from signaltrace.conf import DEFAULTS
from signaltrace.naming import callable_name, signal_name, source_location
from signaltrace.values import describer
from tests.app.models import Author

module_signal = Signal()


def receiver(sender: object, **kwargs: Any) -> None:
    pass


async def async_receiver(sender: object, **kwargs: Any) -> None:
    pass


class Receivers:
    def method(self, sender: object, **kwargs: Any) -> None:
        pass

    def __call__(self, sender: object, **kwargs: Any) -> None:
        pass


def test_djangos_signals_are_named_by_their_defining_module() -> None:
    assert signal_name(model_signals.post_save) == "django.db.models.signals.post_save"
    assert (
        signal_name(core_signals.request_started)
        == "django.core.signals.request_started"
    )


def test_a_reexported_signal_keeps_its_defining_module() -> None:
    # django.contrib.auth imports user_logged_in from .signals.
    assert (
        signal_name(auth_signals.user_logged_in)
        == "django.contrib.auth.signals.user_logged_in"
    )


def test_a_project_signal_is_named_by_its_module() -> None:
    assert signal_name(module_signal) == "tests.test_naming.module_signal"


def test_a_signal_that_lives_nowhere_gets_a_readable_fallback() -> None:
    assert signal_name(Signal()) == "<unnamed django.dispatch.dispatcher.Signal>"


def test_receivers_of_every_shape_are_named() -> None:
    instance = Receivers()
    assert callable_name(receiver) == "tests.test_naming.receiver"
    assert callable_name(async_receiver) == "tests.test_naming.async_receiver"
    assert callable_name(instance.method) == "tests.test_naming.Receivers.method"
    assert callable_name(instance) == "tests.test_naming.Receivers.__call__"
    assert (
        callable_name(functools.partial(receiver, 1))
        == "functools.partial(tests.test_naming.receiver)"
    )
    assert callable_name(mock.Mock(name="hook")) == "unittest.mock.Mock(hook)"
    assert callable_name(len) == "builtins.len"


def test_naming_a_mock_does_not_touch_it() -> None:
    a_mock = mock.MagicMock()
    callable_name(a_mock)
    assert a_mock.mock_calls == []


def test_source_location_points_at_the_code() -> None:
    location = source_location(Receivers().method)
    assert location is not None
    filename, _line, qualname = location
    assert filename == __file__
    assert qualname == "Receivers.method"
    assert source_location(functools.partial(receiver))[2] == "receiver"  # type: ignore[index]
    assert source_location(Receivers())[2] == "Receivers.__call__"  # type: ignore[index]
    assert source_location(mock.Mock()) is None


def test_senders_are_named_without_running_their_code() -> None:
    sender_name = describer(DEFAULTS).sender
    assert sender_name(Author) == "tests.app.models.Author"
    assert sender_name(None) == "None"
    assert sender_name("shop") == "'shop'"
    assert sender_name(Author(pk=1)) == "<testapp.Author pk=1>"
