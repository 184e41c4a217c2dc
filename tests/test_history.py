"""The history: a bounded, thread-safe store of finished request traces."""

from __future__ import annotations

import json
import threading
import tracemalloc

import signaltrace
from signaltrace.assertions import SignalTrace
from signaltrace.conf import DEFAULTS
from signaltrace.history import HistoryEntry, TraceHistory, estimate_size, history
from tests.app.models import Author
from tests.app.views import marker_sent


def _trace(**kwargs: object) -> SignalTrace:
    with signaltrace.capture() as trace:
        marker_sent.send(sender=Author, marker="history", password="hunter2", **kwargs)
    return trace


def _entry(number: int, trace: SignalTrace | None = None) -> HistoryEntry:
    return HistoryEntry(
        trace if trace is not None else _EMPTY,
        trace_id=f"{number:032x}",
        method="GET",
        path=f"/{number}/",
        status=200,
    )


with signaltrace.capture() as _EMPTY:
    pass


def test_an_entry_sums_its_trace_up() -> None:
    trace = _trace()

    entry = HistoryEntry(
        trace, trace_id="a" * 32, method="POST", path="/x/", status=201
    )

    assert entry.id == "a" * 32
    assert (entry.method, entry.path, entry.status) == ("POST", "/x/", 201)
    assert (entry.sends, entry.receiver_calls, entry.errors) == (1, 1, 0)
    assert entry.signal_ms == round(trace.duration * 1000, 4)
    assert entry.duration_ms == round(trace.elapsed * 1000, 4)
    assert entry.started_at == trace.wall_started


def test_an_entry_keeps_the_trace_itself_not_a_copy() -> None:
    trace = _trace()

    assert _entry(1, trace).trace is trace


def test_entries_are_json_safe_and_masked() -> None:
    text = json.dumps(_entry(3, _trace()).to_dict())

    assert "hunter2" not in text
    assert json.loads(text)["trace"]["events"][0]["kwargs"]["marker"] == "history"


def test_default_bounds_are_the_settings() -> None:
    store = TraceHistory()

    assert store.size == DEFAULTS.HISTORY_SIZE == 50
    assert store.max_bytes == DEFAULTS.HISTORY_MAX_BYTES == 32 * 1024 * 1024


def test_keeps_only_the_newest_entries() -> None:
    store = TraceHistory(3)

    for number in range(5):
        store.add(_entry(number))

    assert [entry.path for entry in store.entries()] == ["/4/", "/3/", "/2/"]
    assert len(store) == 3


def test_keeps_within_its_memory_bound_dropping_the_oldest() -> None:
    trace = _trace(payload="x" * 250)
    size = estimate_size(trace)
    store = TraceHistory(50, max_bytes=3 * size)

    for number in range(10):
        store.add(_entry(number, trace))

    assert [entry.path for entry in store.entries()] == ["/9/", "/8/", "/7/"]
    assert store.bytes == 3 * size


def test_an_entry_larger_than_the_memory_bound_is_not_kept() -> None:
    store = TraceHistory(50, max_bytes=10)

    store.add(_entry(1, _trace()))

    assert store.entries() == []
    assert store.bytes == 0


def test_the_size_estimate_is_not_below_what_a_trace_takes() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with signaltrace.capture() as trace:
            for number in range(200):
                marker_sent.send(sender=Author, marker=f"value {number}" * 20)
        taken = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert estimate_size(trace) >= taken


def test_get_finds_an_entry_by_id() -> None:
    store = TraceHistory(3)
    store.add(_entry(1))

    found = store.get(f"{1:032x}")

    assert found is not None
    assert found.path == "/1/"


def test_get_returns_none_for_an_entry_that_left() -> None:
    store = TraceHistory(1)
    store.add(_entry(1))
    store.add(_entry(2))

    assert store.get(f"{1:032x}") is None


def test_add_with_other_bounds_applies_them_keeping_the_newest() -> None:
    store = TraceHistory(5)
    for number in range(5):
        store.add(_entry(number))

    store.add(_entry(5), size=2)

    assert store.size == 2
    assert [entry.path for entry in store.entries()] == ["/5/", "/4/"]
    store.add(_entry(6), max_bytes=estimate_size(_EMPTY))
    assert [entry.path for entry in store.entries()] == ["/6/"]


def test_clear_forgets_everything() -> None:
    store = TraceHistory(3)
    store.add(_entry(1))

    store.clear()

    assert store.entries() == []
    assert store.bytes == 0


def test_concurrent_adds_keep_the_bounds_without_mixing_entries() -> None:
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
    assert len({entry.id for entry in entries}) == 50
    assert store.bytes == sum(entry.size for entry in entries)


def test_the_process_history_is_a_trace_history() -> None:
    assert isinstance(history, TraceHistory)
