"""The history: a bounded, thread-safe store of finished request traces."""

from __future__ import annotations

import json
import threading
from typing import Any

import signaltrace
from signaltrace.conf import DEFAULTS
from signaltrace.history import HistoryEntry, TraceHistory, history, make_entry
from tests.app.models import Author
from tests.app.views import marker_sent


def _trace_dict() -> dict[str, Any]:
    with signaltrace.capture() as trace:
        marker_sent.send(sender=Author, marker="history", password="hunter2")
    return trace.to_dict()


def _entry(number: int) -> HistoryEntry:
    return make_entry(
        _EMPTY_TRACE,
        trace_id=f"{number:032x}",
        method="GET",
        path=f"/{number}/",
        status=200,
    )


_EMPTY_TRACE: dict[str, Any] = {
    "started_at": 0.0,
    "duration_ms": 0.0,
    "elapsed_ms": 0.0,
    "events": [],
    "counts": [],
    "dropped": 0,
}


def test_make_entry_summarises_the_trace_dict() -> None:
    data = _trace_dict()

    entry = make_entry(data, trace_id="a" * 32, method="POST", path="/x/", status=201)

    assert entry["id"] == "a" * 32
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/x/", 201)
    assert entry["sends"] == 1
    assert entry["receivers"] == 1
    assert entry["errors"] == 0
    assert entry["signal_ms"] == data["duration_ms"]
    assert entry["duration_ms"] == data["elapsed_ms"]
    assert entry["started_at"] == data["started_at"]
    assert entry["trace"] is data


def test_make_entry_counts_receivers_that_raised() -> None:
    data = _trace_dict()
    data["events"][0]["receivers"][0]["error"] = "ValueError: boom"

    entry = make_entry(data, trace_id="b" * 32, method="GET", path="/", status=500)

    assert entry["errors"] == 1


def test_entries_are_json_safe_and_redacted() -> None:
    entry = make_entry(
        _trace_dict(), trace_id="c" * 32, method="GET", path="/", status=200
    )

    text = json.dumps(entry)

    assert "hunter2" not in text
    assert json.loads(text)["trace"]["events"][0]["kwargs"]["marker"] == "'history'"


def test_default_size_is_the_history_size_setting() -> None:
    assert TraceHistory().size == DEFAULTS.HISTORY_SIZE == 50


def test_keeps_only_the_newest_entries() -> None:
    store = TraceHistory(3)

    for number in range(5):
        store.add(_entry(number))

    assert [entry["path"] for entry in store.entries()] == ["/4/", "/3/", "/2/"]
    assert len(store) == 3


def test_get_finds_an_entry_by_id() -> None:
    store = TraceHistory(3)
    store.add(_entry(1))

    found = store.get(f"{1:032x}")

    assert found is not None
    assert found["path"] == "/1/"


def test_get_returns_none_for_an_entry_that_left() -> None:
    store = TraceHistory(1)
    store.add(_entry(1))
    store.add(_entry(2))

    assert store.get(f"{1:032x}") is None


def test_add_with_another_size_resizes_keeping_the_newest() -> None:
    store = TraceHistory(5)
    for number in range(5):
        store.add(_entry(number))

    store.add(_entry(5), size=2)

    assert store.size == 2
    assert [entry["path"] for entry in store.entries()] == ["/5/", "/4/"]


def test_clear_forgets_everything() -> None:
    store = TraceHistory(3)
    store.add(_entry(1))

    store.clear()

    assert store.entries() == []


def test_concurrent_adds_keep_the_bound_without_mixing_entries() -> None:
    store = TraceHistory(50)
    threads_count, per_thread = 8, 500
    start = threading.Barrier(threads_count)

    def add_many(thread: int) -> None:
        start.wait()
        for number in range(per_thread):
            store.add(_entry(thread * per_thread + number))
            store.entries()  # readers run alongside writers

    threads = [
        threading.Thread(target=add_many, args=(thread,))
        for thread in range(threads_count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    entries = store.entries()
    assert len(entries) == 50
    assert len({entry["id"] for entry in entries}) == 50


def test_the_process_history_is_a_trace_history() -> None:
    assert isinstance(history, TraceHistory)
