"""``manage.py signaltrace``: its trace goes to the history, as a command's."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from signaltrace.history import get_store, history

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_history() -> Any:
    history.clear()
    yield
    history.clear()


def test_a_traced_command_is_kept_as_a_command(settings: Any) -> None:
    call_command("signaltrace", "check", stdout=StringIO(), stderr=StringIO())

    [entry] = history.entries("command")
    assert (entry.kind, entry.name, entry.outcome) == ("command", "check", "SUCCESSFUL")
    assert entry.method == entry.path == ""
    assert entry.data()["events"] is not None


def test_a_failed_command_is_kept_as_failed() -> None:
    with pytest.raises(CommandError, match="no_such_app"):
        call_command(
            "signaltrace",
            "migrate",
            "no_such_app",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    [entry] = history.entries("command")
    assert entry.outcome == "FAILED"


def test_no_history_no_entry(settings: Any) -> None:
    settings.SIGNALTRACE = {"HISTORY_SIZE": 0}
    call_command("signaltrace", "check", stdout=StringIO(), stderr=StringIO())
    assert history.entries() == []


def test_the_viewer_lists_commands_by_kind(settings: Any, admin_client: Client) -> None:
    settings.DEBUG = True
    call_command("signaltrace", "check", stdout=StringIO(), stderr=StringIO())

    page = admin_client.get("/__signaltrace__/?kind=command").content.decode()
    assert "st-kind-command" in page
    assert ">check</a>" in page
    assert "No command traced yet" not in page
    tasks = admin_client.get("/__signaltrace__/?kind=task").content.decode()
    assert "No task traced yet" in tasks


def test_library_findings_option_lists_them_one_by_one(settings: Any) -> None:
    settings.SIGNALTRACE = {"SLOW_RECEIVER_MS": 0}
    summed = StringIO()
    call_command("signaltrace", "migrate", stdout=summed, stderr=StringIO())
    listed = StringIO()
    call_command(
        "signaltrace", "--library-findings", "migrate", stdout=listed, stderr=StringIO()
    )
    assert "library-receivers" in summed.getvalue()
    assert "library-receivers" not in listed.getvalue()
    assert "create_permissions" in listed.getvalue()
    assert get_store() is history
