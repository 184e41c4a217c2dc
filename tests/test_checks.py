"""System checks: receivers never imported, connected twice, or soon collected."""

from __future__ import annotations

import gc
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.apps import AppConfig, apps
from django.core import checks as django_checks
from django.core.checks import CheckMessage
from django.dispatch import Signal
from django.test import override_settings

from signaltrace.checks import (
    _defines_receivers,
    check_collectable_receivers,
    check_duplicate_receivers,
    check_unimported_receiver_modules,
)
from tests.checks_apps.duplicated import receivers as duplicated_receivers
from tests.checks_apps.duplicated.signals import order_placed

FORGOTTEN = "tests.checks_apps.forgotten"
#: An app whose receiver modules have names of its own.
CUSTOM = "tests.checks_apps.custom"

#: Receivers connected by the W003 tests, only for their duration.
parcel_lost = Signal()


def on_parcel_lost(sender: object, **kwargs: Any) -> None:
    pass


def make_lambda() -> Any:
    return lambda sender, **kwargs: None


class Listener:
    """Listens with a method; refers to itself, as many objects do."""

    def __init__(self) -> None:
        self.own_method = self.on_parcel_lost

    def on_parcel_lost(self, sender: object, **kwargs: Any) -> None:
        pass


#: A listener a module global keeps alive: a fine weak receiver.
kept_listener = Listener()


def about(messages: list[CheckMessage], name: str) -> list[CheckMessage]:
    return [message for message in messages if message.obj == name]


@pytest.fixture
def receivers_of_parcel_lost() -> Iterator[None]:
    yield
    parcel_lost.receivers.clear()
    parcel_lost.sender_receivers_cache.clear()


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Keep the collector from reaching a receiver the test means to find."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---------------------------------------------------------------------- W001


def test_w001_reports_receiver_modules_that_were_never_imported() -> None:
    messages = check_unimported_receiver_modules([AppConfig.create(FORGOTTEN)])

    assert [(m.id, m.obj) for m in messages] == [
        ("signaltrace.W001", f"{FORGOTTEN}.signals"),
        ("signaltrace.W001", f"{FORGOTTEN}.handlers"),
    ]
    assert f"{FORGOTTEN}.signals" not in sys.modules
    assert messages[0].msg == (
        f"{FORGOTTEN}.signals defines signal receivers, but it is never imported: "
        "none of them is connected, and they never run."
    )
    assert messages[0].hint is not None
    assert messages[0].hint.startswith(
        "Import it in the ready() method of "
        "tests.checks_apps.forgotten.apps.ForgottenConfig "
        "(`from . import signals  # noqa: F401`)."
    )
    assert "'signaltrace.W001' to the SILENCED_SYSTEM_CHECKS setting" in (
        messages[0].hint
    )


def test_w001_is_silent_for_receivers_imported_in_ready() -> None:
    with override_settings(INSTALLED_APPS=["tests.checks_apps.wired"]):
        app_configs = [apps.get_app_config("checks_wired")]
        assert check_unimported_receiver_modules(app_configs) == []


def test_w001_is_silent_for_a_handlers_module_without_receivers() -> None:
    app_config = AppConfig.create("tests.checks_apps.plain")

    assert check_unimported_receiver_modules([app_config]) == []


@pytest.mark.parametrize(
    ("source", "defines"),
    [
        ("from django.dispatch import receiver\n@receiver(s)\ndef f(**k): ...", True),
        ("from django import dispatch\n@dispatch.receiver(s)\ndef f(**k): ...", True),
        (
            "from django.db.models.signals import post_save\n"
            "from shop import tasks\n"
            "post_save.connect(tasks.on_save)",
            True,
        ),
        ("from shop import signals\nsignals.paid.connect(other.f)", True),
        ("def f(**k): ...\nsignal.connect(f)", True),
        ("signal.connect(other.f, sender=Order)", True),
        ("sock.connect(address)", False),
        ("import socket\nsocket.socket().connect(('db', 5432))", False),
        ("from django.dispatch import Signal\npaid = Signal()", False),
        ("def f(:", False),
    ],
)
def test_w001_tells_receiver_modules_from_their_source(
    tmp_path: Path, source: str, defines: bool
) -> None:
    path = tmp_path / "signals.py"
    path.write_text(source)

    assert _defines_receivers(path) is defines


def test_w001_runs_with_manage_py_check() -> None:
    with override_settings(INSTALLED_APPS=["signaltrace", FORGOTTEN]):
        messages = django_checks.run_checks(tags=["signals"])

    assert [m.obj for m in messages if m.id == "signaltrace.W001"] == [
        f"{FORGOTTEN}.signals",
        f"{FORGOTTEN}.handlers",
    ]


def w001_modules(app: str) -> list[str]:
    messages = check_unimported_receiver_modules([AppConfig.create(app)])
    assert {m.id for m in messages} <= {"signaltrace.W001"}
    return [str(m.obj) for m in messages]


def test_w001_reports_a_signal_handlers_module_that_was_never_imported() -> None:
    app = "tests.checks_apps.wagtail_style"

    assert w001_modules(app) == [f"{app}.signal_handlers"]
    assert f"{app}.signal_handlers" not in sys.modules


def test_w001_reports_a_listeners_module_that_was_never_imported() -> None:
    app = "tests.checks_apps.listening"

    assert w001_modules(app) == [f"{app}.listeners"]
    assert f"{app}.listeners" not in sys.modules


def test_w001_reads_no_module_of_another_name_by_default() -> None:
    assert w001_modules(CUSTOM) == []


def test_w001_reads_the_modules_named_in_extra_receiver_modules(
    settings: Any,
) -> None:
    settings.SIGNALTRACE = {"EXTRA_RECEIVER_MODULES": ("hooks",)}

    assert w001_modules(CUSTOM) == [f"{CUSTOM}.hooks"]
    assert f"{CUSTOM}.hooks" not in sys.modules


def test_w001_takes_a_lone_string_in_extra_receiver_modules_as_one_name(
    settings: Any,
) -> None:
    settings.SIGNALTRACE = {"EXTRA_RECEIVER_MODULES": "hooks"}

    assert w001_modules(CUSTOM) == [f"{CUSTOM}.hooks"]


def test_w001_reads_a_module_named_in_both_lists_once(settings: Any) -> None:
    settings.SIGNALTRACE = {"EXTRA_RECEIVER_MODULES": ["signals", "signals"]}

    assert w001_modules(FORGOTTEN) == [f"{FORGOTTEN}.signals", f"{FORGOTTEN}.handlers"]


def test_w001_reads_a_dotted_name_inside_a_package_it_does_not_import(
    settings: Any,
) -> None:
    settings.SIGNALTRACE = {"EXTRA_RECEIVER_MODULES": ["events.handlers"]}

    (message,) = check_unimported_receiver_modules([AppConfig.create(CUSTOM)])

    assert message.obj == f"{CUSTOM}.events.handlers"
    assert f"{CUSTOM}.events" not in sys.modules
    assert message.hint is not None
    assert "(`from .events import handlers  # noqa: F401`)" in message.hint


def test_w001_is_silent_for_a_dotted_name_that_leads_nowhere(settings: Any) -> None:
    settings.SIGNALTRACE = {
        "EXTRA_RECEIVER_MODULES": ["missing.handlers", "hooks.handlers"]
    }

    assert w001_modules(CUSTOM) == []


# ---------------------------------------------------------------------- W002


@pytest.fixture
def second_copy() -> Iterator[ModuleType]:
    """The receivers module loaded again under another name, as sys.path
    mistakes do: a second function object with the same code, connected too.
    """
    assert duplicated_receivers.__file__ is not None
    spec = importlib.util.spec_from_file_location(
        "duplicated.receivers", duplicated_receivers.__file__
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    order_placed.disconnect(module.reserve_stock)


def test_w002_reports_a_receiver_connected_twice_through_two_module_names(
    second_copy: ModuleType,
) -> None:
    name = "tests.checks_apps.duplicated.receivers.reserve_stock"

    (message,) = about(check_duplicate_receivers(), name)

    assert message.id == "signaltrace.W002"
    assert message.msg == (
        f"{name} is connected 2 times to "
        "tests.checks_apps.duplicated.signals.order_placed, so it runs 2 times "
        "per send."
    )
    assert message.hint is not None
    assert message.hint.startswith(
        "Its module was imported under 2 names (duplicated.receivers, "
        "tests.checks_apps.duplicated.receivers)"
    )
    assert "SILENCED_SYSTEM_CHECKS" in message.hint


def test_w002_reports_only_receivers_of_the_apps_checked(
    second_copy: ModuleType,
) -> None:
    duplicated = AppConfig.create("tests.checks_apps.duplicated")
    plain = AppConfig.create("tests.checks_apps.plain")

    assert len(check_duplicate_receivers([duplicated])) == 1
    assert check_duplicate_receivers([plain]) == []


def test_w002_is_silent_for_a_receiver_connected_once() -> None:
    name = "tests.checks_apps.duplicated.receivers.reserve_stock"

    assert about(check_duplicate_receivers(), name) == []


def test_w002_is_silent_for_one_receiver_connected_for_two_senders(
    receivers_of_parcel_lost: None,
) -> None:
    parcel_lost.connect(on_parcel_lost, sender="post")
    parcel_lost.connect(on_parcel_lost, sender="courier")

    assert about(check_duplicate_receivers(), "tests.test_checks.on_parcel_lost") == []


# ---------------------------------------------------------------------- W003


def test_w003_reports_a_weakly_connected_lambda(receivers_of_parcel_lost: None) -> None:
    receiver = make_lambda()
    parcel_lost.connect(receiver)

    (message,) = about(
        check_collectable_receivers(), "tests.test_checks.make_lambda.<locals>.<lambda>"
    )
    assert message.id == "signaltrace.W003"
    assert message.msg == (
        "tests.test_checks.make_lambda.<locals>.<lambda> is connected to "
        "tests.test_checks.parcel_lost by a weak reference, and it is a lambda: "
        "Python will collect it, and Django will then stop calling it without a "
        "word."
    )
    assert message.hint is not None
    assert "weak=False" in message.hint
    assert "'signaltrace.W003' to the SILENCED_SYSTEM_CHECKS setting" in message.hint


def test_w003_reports_a_weakly_connected_local_function(
    receivers_of_parcel_lost: None,
) -> None:
    def on_lost(sender: object, **kwargs: Any) -> None:
        pass

    parcel_lost.connect(on_lost)
    name = (
        "tests.test_checks."
        "test_w003_reports_a_weakly_connected_local_function.<locals>.on_lost"
    )

    (message,) = about(check_collectable_receivers(), name)
    assert "and it is a local function:" in message.msg


def test_w003_reports_a_method_of_an_object_only_its_own_cycles_hold(
    receivers_of_parcel_lost: None, no_gc: None
) -> None:
    parcel_lost.connect(Listener().on_parcel_lost)
    name = "tests.test_checks.Listener.on_parcel_lost"

    (message,) = about(check_collectable_receivers(), name)
    assert (
        "and it is a method of a tests.test_checks.Listener object that nothing "
        "else refers to:"
    ) in message.msg


def test_w003_is_silent_for_a_method_of_an_object_kept_alive(
    receivers_of_parcel_lost: None, no_gc: None
) -> None:
    parcel_lost.connect(kept_listener.on_parcel_lost)

    assert (
        about(
            check_collectable_receivers(), "tests.test_checks.Listener.on_parcel_lost"
        )
        == []
    )


def test_w003_is_silent_for_a_module_level_function(
    receivers_of_parcel_lost: None,
) -> None:
    parcel_lost.connect(on_parcel_lost)

    assert (
        about(check_collectable_receivers(), "tests.test_checks.on_parcel_lost") == []
    )


def test_w003_is_silent_for_a_local_function_connected_strongly(
    receivers_of_parcel_lost: None,
) -> None:
    def on_lost(sender: object, **kwargs: Any) -> None:
        pass

    parcel_lost.connect(on_lost, weak=False)

    assert not [
        message
        for message in check_collectable_receivers()
        if str(message.obj).endswith(".<locals>.on_lost")
    ]


def test_the_checks_are_registered_under_the_signals_tag() -> None:
    registered = django_checks.registry.registry.get_checks()

    for check in (
        check_unimported_receiver_modules,
        check_duplicate_receivers,
        check_collectable_receivers,
    ):
        assert check in registered
        assert "signals" in check.tags  # type: ignore[attr-defined]
