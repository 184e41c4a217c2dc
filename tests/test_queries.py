"""The database queries each receiver call runs: counted, timed, per alias, by SQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connection, connections
from django.dispatch import Signal
from django.test.utils import CaptureQueriesContext

import signaltrace
from signaltrace import queries
from signaltrace.queries import MAX_DISTINCT_SQL, QueryStats, normalize_sql
from tests.app.models import Author

needs_asend = pytest.mark.skipif(django.VERSION < (5, 0), reason="asend: Django 5.0+")

book_checked = Signal()
book_counted = Signal()


def counts_authors(sender: object, times: int = 1, **kwargs: Any) -> None:
    for _ in range(times):
        Author.objects.count()


def looks_up_authors(sender: object, **kwargs: Any) -> None:
    for pk in range(3):
        list(Author.objects.filter(pk=pk))


def counts_then_sends(sender: object, **kwargs: Any) -> None:
    Author.objects.count()
    book_counted.send(sender=None, times=2)


def does_nothing(sender: object, **kwargs: Any) -> None:
    pass


async def counts_authors_async(sender: object, **kwargs: Any) -> None:
    await Author.objects.acount()
    await Author.objects.acount()


@pytest.fixture
def connect() -> Iterator[Callable[..., None]]:
    connected: list[tuple[Signal, Any]] = []

    def connect(signal: Signal, receiver: Any) -> None:
        signal.connect(receiver)
        connected.append((signal, receiver))

    yield connect
    for signal, receiver in connected:
        signal.disconnect(receiver)


pytestmark = pytest.mark.django_db


def test_a_receiver_call_counts_the_queries_it_ran(connect: Any) -> None:
    connect(book_checked, counts_authors)

    with signaltrace.capture() as trace:
        book_checked.send(sender=None, times=3)

    (call,) = trace.receiver_calls
    assert call.queries == 3
    assert call.query_stats is not None
    assert call.query_stats.aliases["default"][0] == 3
    assert call.query_time == call.query_stats.time >= 0


def test_a_receiver_without_queries_has_no_query_stats(connect: Any) -> None:
    connect(book_checked, does_nothing)

    with signaltrace.capture() as trace:
        book_checked.send(sender=None)

    (call,) = trace.receiver_calls
    assert (call.queries, call.query_time, call.query_stats) == (0, 0.0, None)


def test_queries_outside_receivers_belong_to_no_call(connect: Any) -> None:
    connect(book_checked, counts_authors)

    with signaltrace.capture() as trace:
        Author.objects.count()
        book_checked.send(sender=None)
        Author.objects.count()

    assert [call.queries for call in trace.receiver_calls] == [1]


def test_a_query_in_a_nested_send_belongs_to_the_innermost_receiver(
    connect: Any,
) -> None:
    connect(book_checked, counts_then_sends)
    connect(book_counted, counts_authors)

    with signaltrace.capture() as trace:
        book_checked.send(sender=None)

    outer, inner = trace.receiver_calls
    assert (outer.name, outer.queries) == ("tests.test_queries.counts_then_sends", 1)
    assert (inner.name, inner.queries) == ("tests.test_queries.counts_authors", 2)


def test_tracking_runs_no_query_of_its_own(connect: Any) -> None:
    connect(book_checked, counts_authors)

    with CaptureQueriesContext(connection) as captured, signaltrace.capture():
        book_checked.send(sender=None)

    assert len(captured.captured_queries) == 1


def test_the_same_sql_is_counted_once_per_statement(connect: Any) -> None:
    connect(book_checked, looks_up_authors)

    with signaltrace.capture() as trace:
        book_checked.send(sender=None)

    (call,) = trace.receiver_calls
    assert call.query_stats is not None
    ((sql, count),) = call.query_stats.repeated()
    assert count == 3
    assert sql.startswith('SELECT "testapp_author"."id"')


def test_to_dict_lists_the_queries_of_each_receiver(connect: Any) -> None:
    connect(book_checked, looks_up_authors)

    with signaltrace.capture() as trace:
        book_checked.send(sender=None)

    (receiver,) = trace.to_dict()["events"][0]["receivers"]
    assert receiver["queries"] == 3
    assert receiver["query_time_ms"] >= 0
    assert set(receiver["queries_by_alias"]) == {"default"}
    assert receiver["queries_by_alias"]["default"]["queries"] == 3
    assert [item["count"] for item in receiver["repeated_queries"]] == [3]


def test_to_dict_of_a_receiver_without_queries_has_empty_query_keys(
    connect: Any,
) -> None:
    connect(book_checked, does_nothing)

    with signaltrace.capture() as trace:
        book_checked.send(sender=None)

    (receiver,) = trace.to_dict()["events"][0]["receivers"]
    assert {
        key: receiver[key]
        for key in ("queries", "query_time_ms", "queries_by_alias", "repeated_queries")
    } == {
        "queries": 0,
        "query_time_ms": 0.0,
        "queries_by_alias": {},
        "repeated_queries": [],
    }


# ------------------------------------------------------- installing the wrapper


def test_the_wrapper_is_on_the_connection_only_while_tracing() -> None:
    assert queries._record not in connection.execute_wrappers

    with signaltrace.capture():
        assert connection.execute_wrappers[0] is queries._record

    assert queries._record not in connection.execute_wrappers
    assert not queries.is_tracking()


def test_an_execute_wrapper_block_entered_before_tracing_removes_its_own_wrapper() -> (
    None
):
    def blocker(execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
        return execute(sql, params, many, context)

    tracing = signaltrace.capture()
    with connection.execute_wrapper(blocker):
        tracing.__enter__()
        assert connection.execute_wrappers == [queries._record, blocker]
    try:
        assert connection.execute_wrappers == [queries._record]
    finally:
        tracing.__exit__(None, None, None)
    assert connection.execute_wrappers == []


def test_connections_created_while_tracing_are_wrapped_and_then_unwrapped() -> None:
    created: list[Any] = []

    def new_thread() -> None:
        created.append(connections["default"])

    with signaltrace.capture():
        thread = threading.Thread(target=new_thread)
        thread.start()
        thread.join()
        (other,) = created
        assert other is not connection
        assert queries._record in other.execute_wrappers

    assert queries._record not in other.execute_wrappers


@pytest.mark.django_db(transaction=True)
def test_a_receiver_in_a_sync_to_async_thread_is_tracked(connect: Any) -> None:
    connect(book_checked, counts_authors)

    async def send() -> None:
        await sync_to_async(book_checked.send)(sender=None, times=2)

    with signaltrace.capture() as trace:
        asyncio.run(send())

    assert trace.assert_receiver_called(counts_authors).queries == 2


@needs_asend
@pytest.mark.django_db(transaction=True)
def test_a_sync_receiver_of_asend_is_tracked(connect: Any) -> None:
    connect(book_checked, counts_authors)

    with signaltrace.capture() as trace:
        asyncio.run(book_checked.asend(sender=None, times=2))

    assert trace.assert_receiver_called(counts_authors).queries == 2


@needs_asend
@pytest.mark.django_db(transaction=True)
def test_an_async_receiver_is_given_the_queries_it_awaited(connect: Any) -> None:
    connect(book_checked, counts_authors_async)
    # asgiref's shared thread, where they run, has a connection from before.
    asyncio.run(sync_to_async(Author.objects.count)())

    with signaltrace.capture() as trace:
        asyncio.run(book_checked.asend(sender=None))

    call = trace.assert_receiver_called(counts_authors_async)
    assert (call.is_async, call.queries) == (True, 2)


def test_a_busy_shared_thread_is_sent_one_job_however_many_captures_start() -> None:
    # A request starts a capture each: with asgiref's shared thread busy (a
    # long job, or one that never ends), their jobs must not pile up.
    asyncio.run(sync_to_async(lambda: None)())  # the shared thread exists
    executor = SyncToAsync.single_thread_executor
    started, release = threading.Event(), threading.Event()

    def job() -> None:
        started.set()
        release.wait(10)

    busy = executor.submit(job)
    assert started.wait(10)
    try:
        for _ in range(100):
            with signaltrace.capture():
                pass
        assert executor._work_queue.qsize() <= 1
    finally:
        release.set()
    busy.result(timeout=10)


# ---------------------------------------------------------------- QueryStats


def test_query_stats_add_up_per_alias() -> None:
    stats = QueryStats()
    stats.add("default", "SELECT 1", 0.5)
    stats.add("replica", "SELECT 1", 0.25)
    stats.add("default", "SELECT 2", 0.5)

    assert stats.aliases == {"default": [2, 1.0], "replica": [1, 0.25]}
    assert (stats.count, stats.time) == (3, 1.25)


def test_query_stats_keep_a_bounded_number_of_distinct_sql() -> None:
    stats = QueryStats()
    for number in range(MAX_DISTINCT_SQL + 5):
        stats.add("default", f"SELECT {number}", 0.0)
    stats.add("default", "SELECT 0", 0.0)

    assert len(stats.sql) == MAX_DISTINCT_SQL
    assert stats.sql["SELECT 0"] == 2
    assert stats.uncounted == 5
    assert stats.count == MAX_DISTINCT_SQL + 6


def test_query_stats_repeated_lists_statements_run_more_than_once_most_first() -> None:
    stats = QueryStats()
    for sql in ("SELECT a", "SELECT b", "SELECT b", "SELECT c", "SELECT c"):
        stats.add("default", sql, 0.0)
    stats.add("default", "SELECT c", 0.0)

    assert stats.repeated() == [("SELECT c", 3), ("SELECT b", 2)]


@pytest.mark.parametrize(
    ("sql", "normalized"),
    [
        ("SELECT * FROM t WHERE id = %s", "SELECT * FROM t WHERE id = %s"),
        ("SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE name = 'it''s'", "SELECT * FROM t WHERE name = ?"),
        (
            "SELECT * FROM t WHERE id IN (%s, %s, %s)",
            "SELECT * FROM t WHERE id IN (...)",
        ),
        ("SELECT * FROM t WHERE id IN (1, 2)", "SELECT * FROM t WHERE id IN (...)"),
        ('SELECT "t0"."c1" FROM "t0"  LIMIT 21', 'SELECT "t0"."c1" FROM "t0" LIMIT ?'),
    ],
)
def test_normalize_sql_hides_values_and_in_list_lengths(
    sql: str, normalized: str
) -> None:
    assert normalize_sql(sql) == normalized


def test_transaction_control_is_never_a_repeated_query() -> None:
    counts = {"BEGIN": 6, 'SAVEPOINT "s1"': 3, 'RELEASE SAVEPOINT "s1"': 3, "COMMIT": 2}
    assert queries.repeated_sql(counts) == []
