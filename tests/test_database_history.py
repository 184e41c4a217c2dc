"""The ``"database"`` history store: what one process keeps, another reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import Signal
from django.test import Client

import signaltrace
from signaltrace.database_history import DatabaseHistory
from signaltrace.history import HistoryEntry, get_store, keep
from signaltrace.models import StoredTrace

pytestmark = pytest.mark.django_db

order_paid = Signal()


def _paid(sender: object, **kwargs: Any) -> str:
    return "booked"


@pytest.fixture(autouse=True)
def _receiver() -> Iterator[None]:
    order_paid.connect(_paid)
    yield
    order_paid.disconnect(_paid)


@pytest.fixture
def database_store(settings: Any) -> DatabaseHistory:
    settings.SIGNALTRACE = {"HISTORY_STORE": "database", "HISTORY_SIZE": 3}
    store = get_store()
    assert isinstance(store, DatabaseHistory)
    return store


def _entry(number: int, **about: Any) -> HistoryEntry:
    with signaltrace.capture() as trace:
        order_paid.send(sender="shop", order=number, password="s3cret")
    return HistoryEntry(trace, trace_id=f"{number:032x}", **about)


def test_an_entry_comes_back_from_the_table_as_it_was_kept(
    database_store: DatabaseHistory,
) -> None:
    kept = _entry(
        1, kind="task", name="shop.tasks.invoice", task_id="t-1", outcome="SUCCESSFUL"
    )
    keep(kept)

    found = database_store.get(kept.id)
    assert found is not None
    assert found.trace is None  # read back: descriptions only
    assert (found.kind, found.name, found.task_id, found.outcome) == (
        "task",
        "shop.tasks.invoice",
        "t-1",
        "SUCCESSFUL",
    )
    assert (found.sends, found.receiver_calls, found.errors) == (1, 1, 0)
    assert found.data() == json.loads(json.dumps(kept.data()))
    [event] = found.data()["events"]
    assert event["kwargs"]["password"] == "********************"
    assert database_store.for_task("t-1") is not None
    assert database_store.for_task("t-2") is None


def test_the_newest_history_size_entries_are_kept(
    database_store: DatabaseHistory,
) -> None:
    for number in range(5):
        keep(_entry(number))

    assert [entry.id for entry in database_store.entries()] == [
        f"{number:032x}" for number in (4, 3, 2)
    ]
    assert StoredTrace.objects.count() == 3


def test_the_list_reads_no_trace(database_store: DatabaseHistory) -> None:
    keep(_entry(1))
    [listed] = database_store.entries()
    with connection.execute_wrapper(_no_entry_column):
        assert listed.sends == 1
        assert listed.errors == 0


def _no_entry_column(
    execute: Any, sql: str, params: Any, many: bool, context: Any
) -> Any:
    assert '"entry"' not in sql, sql
    return execute(sql, params, many, context)


def test_keeping_a_trace_sends_no_model_signal(database_store: DatabaseHistory) -> None:
    heard: list[str] = []

    def hear(sender: object, **kwargs: Any) -> None:
        heard.append(kwargs["signal"].__class__.__name__)

    for signal in (pre_save, post_save, pre_delete, post_delete):
        signal.connect(hear)  # for every model
    try:
        for number in range(5):  # adds, and drops beyond HISTORY_SIZE
            keep(_entry(number))
        database_store.clear()
    finally:
        for signal in (pre_save, post_save, pre_delete, post_delete):
            signal.disconnect(hear)
    assert heard == []


def test_the_viewer_shows_entries_of_the_shared_store(
    database_store: DatabaseHistory, settings: Any, admin_client: Client
) -> None:
    settings.DEBUG = True
    kept = _entry(
        7, kind="task", name="shop.tasks.invoice", task_id="t-7", outcome="FAILED"
    )
    keep(kept)

    listing = admin_client.get("/__signaltrace__/?kind=task").content.decode()
    assert "shop.tasks.invoice" in listing
    assert "FAILED" in listing
    page = admin_client.get(f"/__signaltrace__/{kept.id}/").content.decode()
    assert "order_paid" in page
    assert "s3cret" not in page
