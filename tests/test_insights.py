"""Findings: the pitfalls of signals pointed at in a trace, and where they show."""

from __future__ import annotations

import json
import logging
import os
import sysconfig
import types
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any, NamedTuple

import pytest
from django.contrib.auth import management as auth_management
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import post_init, pre_init
from django.dispatch import Signal

import signaltrace
from signaltrace import insights, naming
from signaltrace.assertions import SignalTrace
from signaltrace.conf import DEFAULTS
from signaltrace.insights import CODES, Finding, is_library_file
from signaltrace.render import filter_trace, render_text
from signaltrace.sql import QueryStats
from signaltrace.trace import ReceiverCall, SignalEvent
from signaltrace.values import ErrorInfo
from signaltrace.waterfall import render_html
from tests.app.models import Author

pytestmark = pytest.mark.django_db

order_paid = Signal()
invoice_sent = Signal()
mail_queued = Signal()
mail_sent = Signal()
stock_changed = Signal()


def sends_invoice(sender: object, **kwargs: Any) -> None:
    invoice_sent.send(sender=None)


def queues_mail(sender: object, **kwargs: Any) -> None:
    mail_queued.send(sender=None)


def sends_mail(sender: object, **kwargs: Any) -> None:
    mail_sent.send(sender=None)


def does_nothing(sender: object, **kwargs: Any) -> None:
    pass


def fails(sender: object, **kwargs: Any) -> None:
    raise ValueError("no stock")


def changes_stock_again(sender: object, level: int, **kwargs: Any) -> None:
    if level < 3:
        stock_changed.send(sender=sender, level=level + 1)


def looks_up_authors(sender: object, lookups: int = 3, **kwargs: Any) -> None:
    for pk in range(lookups):
        list(Author.objects.filter(pk=pk))


def counts_authors(sender: object, queries: int = 3, **kwargs: Any) -> None:
    for _ in range(queries):
        Author.objects.count()


def creates_authors(sender: object, **kwargs: Any) -> None:
    for number in range(3):
        Author.objects.create(name=f"author {number}")


def renames_authors(sender: object, **kwargs: Any) -> None:
    for author in list(Author.objects.all()):
        author.name = author.name.upper()
        author.save()


def deletes_authors(sender: object, **kwargs: Any) -> None:
    with connection.cursor() as cursor:
        for pk in range(3):
            cursor.execute("DELETE FROM testapp_author WHERE id = %s", [pk])


#: Where an installed package's code lies.
LIBRARY_FILE = os.path.join(sysconfig.get_paths()["purelib"], "shoplib", "receivers.py")


def in_library(function: Callable[..., Any]) -> Callable[..., Any]:
    """*function* as installed from a package: a copy with its code in site-packages."""
    library_copy = types.FunctionType(
        function.__code__.replace(co_filename=LIBRARY_FILE),
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    library_copy.__module__ = "shoplib.receivers"
    return library_copy


# Module globals: Django holds receivers weakly.
library_does_nothing = in_library(does_nothing)
library_fails = in_library(fails)
library_sends_invoice = in_library(sends_invoice)
library_queues_mail = in_library(queues_mail)
library_sends_mail = in_library(sends_mail)
library_changes_stock_again = in_library(changes_stock_again)


@pytest.fixture
def connect() -> Iterator[Callable[..., None]]:
    connected: list[tuple[Signal, Any, Any]] = []

    def connect(signal: Signal, receiver: Any, sender: Any = None) -> None:
        signal.connect(receiver, sender=sender)
        connected.append((signal, receiver, sender))

    yield connect
    for signal, receiver, sender in connected:
        signal.disconnect(receiver, sender=sender)


@pytest.fixture
def chain(connect: Callable[..., None]) -> None:
    """order_paid -> invoice_sent -> mail_queued -> mail_sent: depth 3."""
    connect(order_paid, sends_invoice)
    connect(invoice_sent, queues_mail)
    connect(mail_queued, sends_mail)
    connect(mail_sent, does_nothing)


class Call(NamedTuple):
    """A receiver call for :func:`one_send`."""

    name: str
    duration_ms: float
    error: str
    source: str | None
    queries: tuple[str, ...]


def call(
    name: str = "shop.receivers.r",
    *,
    duration_ms: float = 1.0,
    error: str = "",
    source: str | None = None,
    queries: tuple[str, ...] = (),
) -> Call:
    """A receiver call for :func:`one_send`: its name, duration, error, the
    file its code is in, and the SQL it ran.
    """
    return Call(name, duration_ms, error, source, queries)


def library_call(name: str = "shoplib.receivers.r", **kwargs: Any) -> Call:
    """A call of a receiver of an installed package."""
    return call(name, source=LIBRARY_FILE, **kwargs)


def one_send(*calls: Call, method: str = "send") -> SignalTrace:
    """A trace of one send of order_paid, recorded by hand with these calls."""
    trace = SignalTrace(DEFAULTS)
    add_send(trace, *calls, method=method)
    trace.ended_at = trace.started_at
    return trace


def add_send(trace: SignalTrace, *calls: Call, method: str = "send") -> None:
    """Add a send of order_paid to a trace recorded by hand."""
    event = SignalEvent(order_paid, method, "None", {}, None, None)
    for name, duration_ms, error, source, queries in calls:
        where = (source, 1, name.rpartition(".")[2]) if source is not None else None
        recorded = ReceiverCall(event, naming.ReceiverInfo(name, where), False)
        recorded.duration = duration_ms / 1000
        if error:
            kind, _, message = error.partition(": ")
            recorded.error = ErrorInfo(f"builtins.{kind}", kind, message)
        if queries:
            recorded.query_stats = QueryStats()
            for sql in queries:
                recorded.query_stats.add("default", sql, 0.0)
        event.receivers.append(recorded)
    trace.events.append(event)


def codes(found: list[Finding]) -> list[str]:
    return [finding.code for finding in found]


# --------------------------------------------------------------- slow-receiver


def test_a_receiver_taking_slow_receiver_ms_is_a_slow_receiver() -> None:
    trace = one_send(call(), call("shop.receivers.slow", duration_ms=20.0))

    (finding,) = insights.find(trace)

    assert (finding.code, finding.event, finding.receiver) == ("slow-receiver", 0, 1)
    assert finding.message.startswith("shop.receivers.slow on order_paid took 20.0 ms")
    assert "transaction.on_commit()" in finding.message


def test_a_receiver_under_slow_receiver_ms_is_no_finding() -> None:
    assert insights.find(one_send(call(duration_ms=19.9))) == []


def test_a_live_trace_uses_the_thresholds_of_its_settings(
    settings: Any, connect: Callable[..., None]
) -> None:
    settings.SIGNALTRACE = {"SLOW_RECEIVER_MS": 0}
    connect(order_paid, does_nothing)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    assert codes(trace.findings) == ["slow-receiver"]


# ------------------------------------------------------------ receiver-queries


def test_a_receiver_running_more_than_max_receiver_queries_is_a_finding(
    settings: Any, connect: Callable[..., None]
) -> None:
    settings.SIGNALTRACE = {"MAX_RECEIVER_QUERIES": 2, "MAX_REPEATED_QUERIES": 9}
    connect(order_paid, counts_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None, queries=3)

    (finding,) = trace.findings
    assert (finding.code, finding.event, finding.receiver) == ("receiver-queries", 0, 0)
    assert "counts_authors on order_paid ran 3 queries on default" in finding.message


def test_a_receiver_running_max_receiver_queries_is_no_finding(
    settings: Any, connect: Callable[..., None]
) -> None:
    settings.SIGNALTRACE = {"MAX_RECEIVER_QUERIES": 2, "MAX_REPEATED_QUERIES": 9}
    connect(order_paid, counts_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None, queries=2)

    assert trace.findings == []


# ------------------------------------------------------------------ n-plus-one


def test_the_same_query_run_more_than_max_repeated_queries_is_n_plus_one(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, looks_up_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None, lookups=3)

    (finding,) = trace.findings
    assert (finding.code, finding.event, finding.receiver) == ("n-plus-one", 0, 0)
    assert "ran the same query 3 times" in finding.message
    assert 'SELECT "testapp_author"."id"' in finding.message


def test_the_same_query_run_max_repeated_queries_times_is_no_finding(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, looks_up_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None, lookups=2)

    assert trace.findings == []


# ---------------------------------------------------------------- query advice


def n_plus_one(trace: SignalTrace) -> Finding:
    (finding,) = [f for f in trace.findings if f.code == "n-plus-one"]
    return finding


def test_n_plus_one_of_selects_advises_select_related_and_prefetch_related(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, looks_up_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None, lookups=3)

    assert n_plus_one(trace).message.endswith(
        ": fetch the rows at once with select_related(), prefetch_related() or "
        "in_bulk()."
    )


def test_n_plus_one_of_inserts_advises_bulk_create(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, creates_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    message = n_plus_one(trace).message
    assert 'ran the same query 3 times (MAX_REPEATED_QUERIES is 2): INSERT INTO "' in (
        message
    )
    assert message.endswith(
        ": create the rows in one query with bulk_create() (which sends no save "
        "signals)."
    )


def test_n_plus_one_of_updates_advises_bulk_update(
    connect: Callable[..., None],
) -> None:
    Author.objects.bulk_create(Author(name=f"author {n}") for n in range(3))
    connect(order_paid, renames_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    message = n_plus_one(trace).message
    assert ': UPDATE "testapp_author" SET ' in message
    assert message.endswith(
        ": save the rows in one query with bulk_update() or QuerySet.update() "
        "(which send no save signals)."
    )


def test_n_plus_one_of_deletes_advises_deleting_a_queryset(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, deletes_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    message = n_plus_one(trace).message
    assert ": DELETE FROM testapp_author WHERE id = %s: " in message
    assert message.endswith(
        ": delete the rows at once with a QuerySet's delete(), e.g. "
        "filter(pk__in=...).delete()."
    )


def test_n_plus_one_of_another_statement_advises_running_it_once() -> None:
    trace = one_send(call(queries=("CALL refresh_totals(%s)",) * 3))

    (finding,) = insights.find(trace)

    assert finding.message.endswith(
        ": CALL refresh_totals(%s): run it once for all the rows rather than once "
        "per row."
    )


def test_receiver_queries_names_its_most_frequent_statement_and_advises_on_it(
    settings: Any, connect: Callable[..., None]
) -> None:
    settings.SIGNALTRACE = {"MAX_RECEIVER_QUERIES": 2, "MAX_REPEATED_QUERIES": 9}
    connect(order_paid, creates_authors)
    connect(order_paid, counts_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None, queries=1)

    (finding,) = trace.findings
    assert finding.message.startswith(
        "tests.test_insights.creates_authors on order_paid ran 3 queries on default"
    )
    assert finding.message.endswith(
        "(MAX_RECEIVER_QUERIES is 2), all of them INSERTs: create the rows in one "
        "query with bulk_create() (which sends no save signals), or defer the work."
    )


def test_receiver_queries_counts_the_statements_it_advises_on() -> None:
    trace = one_send(
        call(
            queries=(
                *(f"SELECT name FROM author WHERE id = {n}" for n in range(8)),
                *(f"UPDATE author SET name = 'x' WHERE id = {n}" for n in range(3)),
            )
        )
    )

    (finding,) = insights.find(trace, DEFAULTS.with_overrides(MAX_REPEATED_QUERIES=9))

    assert "(MAX_RECEIVER_QUERIES is 10), 8 of them SELECTs: fetch the rows" in (
        finding.message
    )


def test_receiver_queries_of_other_statements_gives_the_general_advice() -> None:
    trace = one_send(call(queries=tuple(f"CALL step_{n}()" for n in range(11))))

    (finding,) = insights.find(trace)

    assert finding.message.endswith(
        "(MAX_RECEIVER_QUERIES is 10): fetch what it needs in fewer queries, or "
        "defer the work."
    )


# ------------------------------------------------------------------ deep-chain


def test_a_send_nested_deeper_than_max_chain_depth_is_a_deep_chain(
    chain: None,
) -> None:
    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    (finding,) = trace.findings
    assert (finding.code, finding.event, finding.receiver) == ("deep-chain", 3, None)
    assert finding.message.startswith(
        "order_paid -> invoice_sent -> mail_queued -> mail_sent: "
        "a chain of 4 nested sends (MAX_CHAIN_DEPTH is 2)"
    )


def test_a_chain_as_deep_as_max_chain_depth_is_no_finding(
    settings: Any, chain: None
) -> None:
    settings.SIGNALTRACE = {"MAX_CHAIN_DEPTH": 3}

    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    assert trace.findings == []


def test_a_deep_chain_is_reported_once_at_its_first_send_past_the_limit(
    settings: Any, chain: None
) -> None:
    settings.SIGNALTRACE = {"MAX_CHAIN_DEPTH": 1}

    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    assert [(f.code, f.event) for f in trace.findings] == [("deep-chain", 2)]


# ------------------------------------------------------------------- recursion


def test_a_signal_resent_by_the_same_sender_inside_its_receiver_is_recursion(
    connect: Callable[..., None],
) -> None:
    connect(stock_changed, changes_stock_again)

    with signaltrace.capture() as trace:
        stock_changed.send(sender="shop", level=2)

    (finding,) = trace.findings
    assert (finding.code, finding.event, finding.receiver) == ("recursion", 1, None)
    assert finding.message.startswith(
        "stock_changed from 'shop' was sent again while its receiver "
        "tests.test_insights.changes_stock_again was running"
    )


def test_recursion_is_reported_once_however_deep_it_goes(
    connect: Callable[..., None],
) -> None:
    connect(stock_changed, changes_stock_again)

    with signaltrace.capture() as trace:
        stock_changed.send(sender="shop", level=0)

    assert [(f.code, f.event) for f in trace.findings] == [
        ("recursion", 1),
        ("deep-chain", 3),
    ]


def test_the_same_signal_from_another_sender_inside_a_receiver_is_no_recursion(
    connect: Callable[..., None],
) -> None:
    def changes_other_stock(sender: object, **kwargs: Any) -> None:
        stock_changed.send(sender="warehouse", level=9)

    connect(stock_changed, changes_other_stock, sender="shop")

    with signaltrace.capture(record_unreceived=True) as trace:
        stock_changed.send(sender="shop", level=0)

    assert len(trace.events) == 2
    assert trace.findings == []


# ------------------------------------------------------------- swallowed-error


def test_an_error_caught_by_send_robust_is_a_swallowed_error(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, does_nothing)
    connect(order_paid, fails)

    with signaltrace.capture() as trace:
        order_paid.send_robust(sender=None)

    (finding,) = trace.findings
    assert (finding.code, finding.event, finding.receiver) == ("swallowed-error", 0, 1)
    assert finding.message.startswith(
        "send_robust() of order_paid caught ValueError: no stock from "
        "tests.test_insights.fails"
    )


def test_an_error_raised_through_send_is_not_swallowed(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, fails)

    with signaltrace.capture() as trace, pytest.raises(ValueError, match="no stock"):
        order_paid.send(sender=None)

    assert trace.findings == []


# --------------------------------------------------------------- init-receiver


def test_a_receiver_of_post_init_is_one_finding_with_its_total_cost(
    connect: Callable[..., None],
) -> None:
    connect(post_init, does_nothing, sender=Author)

    with signaltrace.capture() as trace:
        for number in range(3):
            Author(name=f"author {number}")

    (finding,) = trace.findings
    assert (finding.code, finding.event, finding.receiver) == ("init-receiver", 0, 0)
    assert finding.message.startswith(
        "tests.test_insights.does_nothing on post_init ran 3 times, "
    )
    assert "every model instance created or loaded" in finding.message


def test_each_receiver_of_pre_init_and_post_init_is_its_own_finding(
    connect: Callable[..., None],
) -> None:
    connect(pre_init, does_nothing, sender=Author)
    connect(post_init, does_nothing, sender=Author)

    with signaltrace.capture() as trace:
        Author(name="ada")

    assert [(f.code, f.event) for f in trace.findings] == [
        ("init-receiver", 0),
        ("init-receiver", 1),
    ]


def test_model_instances_without_init_receivers_are_no_finding() -> None:
    with signaltrace.capture() as trace:
        Author(name="ada")

    assert trace.findings == []


# ------------------------------------------------------------ library receivers


def test_code_in_site_packages_is_library_code() -> None:
    assert is_library_file(LIBRARY_FILE)


def test_code_in_a_dist_packages_directory_is_library_code() -> None:
    assert is_library_file("/usr/lib/python3/dist-packages/shoplib/receivers.py")


def test_code_of_the_standard_library_is_library_code() -> None:
    assert logging.__file__ is not None
    assert is_library_file(logging.__file__)


def test_code_of_django_is_library_code() -> None:
    assert auth_management.__file__ is not None
    assert is_library_file(auth_management.__file__)


def test_code_of_the_project_is_not_library_code() -> None:
    from core import receivers as demo_receivers

    assert demo_receivers.__file__ is not None
    assert not is_library_file(__file__)
    assert not is_library_file(demo_receivers.__file__)


def test_code_without_a_file_is_not_library_code() -> None:
    assert not is_library_file("<string>")


def test_djangos_own_receivers_are_summed_up_under_migrate(settings: Any) -> None:
    settings.SIGNALTRACE = {"SLOW_RECEIVER_MS": 0}

    with signaltrace.capture() as trace:
        call_command("migrate", verbosity=0, stdout=StringIO())

    # Every receiver call is slow: Django's are summed up in one finding per
    # code (Django 4.2's create_permissions also repeats a query), the demo
    # project's (core.receivers) are flagged one by one.
    summaries = [f for f in trace.findings if f.code == "library-receivers"]
    project = [f for f in trace.findings if f.code != "library-receivers"]
    [summary] = [f for f in summaries if "slow-receiver findings" in f.message]
    djangos = [c for e in trace.events for c in e.receivers if c.name[:7] == "django."]
    assert summary.code == "library-receivers"
    assert summary.message.startswith(
        f"{len(djangos)} slow-receiver findings about receivers of Django, the "
        "standard library or installed packages, summed up here as their code is "
        "not the project's: "
    )
    assert "django.contrib.auth.management.create_permissions (" in summary.message
    assert "django.contrib.contenttypes.management.create_contenttypes (" in (
        summary.message
    )
    assert summary.message.endswith(
        "Set SIGNALTRACE['LIBRARY_FINDINGS'] to True to list them one by one."
    )
    assert "slow-receiver" in codes(project)
    assert all(f.message.startswith("core.receivers.") for f in project)


def test_a_library_summary_counts_the_findings_of_each_receiver() -> None:
    trace = one_send(
        call(duration_ms=1.0),
        library_call("shoplib.receivers.a", duration_ms=30.0),
        library_call("shoplib.receivers.b", duration_ms=30.0),
    )
    add_send(trace, library_call("shoplib.receivers.b", duration_ms=30.0))

    (summary,) = insights.find(trace)

    assert summary.code == "library-receivers"
    assert summary.message.startswith(
        "3 slow-receiver findings about receivers of Django, the standard library "
        "or installed packages, summed up here as their code is not the "
        "project's: shoplib.receivers.b (2), shoplib.receivers.a (1). "
    )


def test_a_library_summary_stands_at_the_first_finding_it_sums_up() -> None:
    trace = one_send(
        call(duration_ms=1.0), library_call(duration_ms=30.0, error="ValueError: x")
    )
    add_send(trace, library_call(duration_ms=30.0))

    (summary,) = insights.find(trace)

    assert (summary.event, summary.receiver) == (0, 1)


def test_library_findings_are_summed_up_one_finding_per_code() -> None:
    trace = one_send(
        library_call(duration_ms=30.0, error="ValueError: x"), method="send_robust"
    )

    found = insights.find(trace)

    assert codes(found) == ["library-receivers", "library-receivers"]
    assert found[0].message.startswith("1 slow-receiver finding about receivers")
    assert found[1].message.startswith("1 swallowed-error finding about receivers")


def test_a_library_summary_names_five_receivers_and_counts_the_others() -> None:
    trace = one_send(
        *(library_call(f"shoplib.receivers.r{n}", duration_ms=30.0) for n in range(7))
    )

    (summary,) = insights.find(trace)

    assert (
        ": shoplib.receivers.r0 (1), shoplib.receivers.r1 (1), shoplib.receivers.r2 "
        "(1), shoplib.receivers.r3 (1), 3 more receivers. Set "
    ) in summary.message


def test_findings_about_library_and_project_receivers_are_told_apart() -> None:
    trace = one_send(
        library_call(duration_ms=30.0), call("shop.receivers.r", duration_ms=30.0)
    )

    assert [(f.code, f.receiver) for f in insights.find(trace)] == [
        ("library-receivers", 0),
        ("slow-receiver", 1),
    ]


def test_a_receiver_of_unknown_source_counts_as_the_projects() -> None:
    (finding,) = insights.find(one_send(call(duration_ms=30.0, source=None)))

    assert finding.code == "slow-receiver"


def test_the_library_findings_setting_lists_them_one_by_one(
    settings: Any, connect: Callable[..., None]
) -> None:
    settings.SIGNALTRACE = {"LIBRARY_FINDINGS": True}
    connect(order_paid, library_fails)

    with signaltrace.capture() as trace:
        order_paid.send_robust(sender=None)

    (finding,) = trace.findings
    assert finding.code == "swallowed-error"
    assert finding.message.startswith(
        "send_robust() of order_paid caught ValueError: no stock from "
        "shoplib.receivers.fails"
    )


def test_find_includes_library_findings_when_asked() -> None:
    trace = one_send(library_call(duration_ms=30.0))

    assert codes(insights.find(trace, include_libraries=True)) == ["slow-receiver"]


def test_find_sums_library_findings_up_when_asked_despite_the_setting() -> None:
    trace = one_send(library_call(duration_ms=30.0))
    config = DEFAULTS.with_overrides(LIBRARY_FINDINGS=True)

    found = insights.find(trace, config, include_libraries=False)

    assert codes(found) == ["library-receivers"]


def test_a_live_receiver_in_site_packages_is_summed_up(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, library_fails)

    with signaltrace.capture() as trace:
        order_paid.send_robust(sender=None)

    (finding,) = trace.findings
    assert finding.code == "library-receivers"
    assert "1 swallowed-error finding about receivers" in finding.message
    assert ": shoplib.receivers.fails (1). " in finding.message


def test_a_chain_sent_by_library_receivers_only_is_summed_up(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, library_sends_invoice)
    connect(invoice_sent, library_queues_mail)
    connect(mail_queued, library_sends_mail)

    with signaltrace.capture(record_unreceived=True) as trace:
        order_paid.send(sender=None)

    (finding,) = trace.findings
    assert finding.code == "library-receivers"
    assert finding.message.startswith("1 deep-chain finding about receivers")
    assert ": shoplib.receivers.sends_mail (1). " in finding.message


def test_a_chain_with_a_project_receiver_in_it_is_flagged(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, sends_invoice)
    connect(invoice_sent, library_queues_mail)
    connect(mail_queued, library_sends_mail)

    with signaltrace.capture(record_unreceived=True) as trace:
        order_paid.send(sender=None)

    assert codes(trace.findings) == ["deep-chain"]


def test_recursion_through_a_library_receiver_is_summed_up(
    connect: Callable[..., None],
) -> None:
    connect(stock_changed, library_changes_stock_again)

    with signaltrace.capture() as trace:
        stock_changed.send(sender="shop", level=2)

    (finding,) = trace.findings
    assert finding.message.startswith("1 recursion finding about receivers")
    assert ": shoplib.receivers.changes_stock_again (1). " in finding.message


def test_a_library_receiver_of_post_init_is_summed_up(
    connect: Callable[..., None],
) -> None:
    connect(post_init, library_does_nothing, sender=Author)

    with signaltrace.capture() as trace:
        for number in range(3):
            Author(name=f"author {number}")

    (finding,) = trace.findings
    assert finding.message.startswith("1 init-receiver finding about receivers")
    assert ": shoplib.receivers.does_nothing (1). " in finding.message


def test_assert_no_findings_of_a_code_passes_when_only_libraries_have_them(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, library_fails)

    with signaltrace.capture() as trace:
        order_paid.send_robust(sender=None)

    trace.assert_no_findings("swallowed-error")
    with pytest.raises(AssertionError, match=r"library-receivers \(send 1\)"):
        trace.assert_no_findings()


# ---------------------------------------------------------------- the findings


def test_findings_come_ordered_by_send_then_receiver() -> None:
    trace = one_send(
        call("shop.receivers.a", duration_ms=30.0, error="ValueError: x"),
        call("shop.receivers.b", duration_ms=30.0),
        method="send_robust",
    )

    assert [(f.receiver, f.code) for f in insights.find(trace)] == [
        (0, "slow-receiver"),
        (0, "swallowed-error"),
        (1, "slow-receiver"),
    ]


def test_the_dict_of_a_trace_carries_its_findings(
    connect: Callable[..., None], chain: None
) -> None:
    connect(order_paid, looks_up_authors)
    connect(order_paid, fails)

    with signaltrace.capture() as trace:
        order_paid.send_robust(sender=None)

    data = json.loads(json.dumps(trace.to_dict()))
    assert codes(trace.findings) == ["n-plus-one", "swallowed-error", "deep-chain"]
    assert data["findings"] == [finding.to_dict() for finding in trace.findings]


def test_findings_of_an_ended_trace_are_computed_once(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, fails)

    with signaltrace.capture() as trace:
        order_paid.send_robust(sender=None)

    assert trace.findings is trace.findings


def test_a_finding_to_dict_has_the_documented_keys() -> None:
    finding = Finding("recursion", "it recursed", 3)

    assert finding.to_dict() == {
        "code": "recursion",
        "message": "it recursed",
        "event": 3,
        "receiver": None,
    }


def test_every_finding_code_is_documented() -> None:
    assert set(CODES) == {
        "slow-receiver",
        "receiver-queries",
        "n-plus-one",
        "deep-chain",
        "recursion",
        "swallowed-error",
        "init-receiver",
        "library-receivers",
        "recording-error",
    }


# --------------------------------------------------------- where they show


def test_filtering_a_trace_keeps_the_findings_of_the_kept_sends(chain: None) -> None:
    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    filtered = filter_trace(trace.to_dict(), exclude_signals=["invoice_sent"])

    (finding,) = filtered["findings"]
    assert finding["code"] == "deep-chain"
    assert filtered["events"][finding["event"]]["signal"].endswith("mail_sent")
    assert filter_trace(trace.to_dict(), signals=["order_paid"])["findings"] == []


def test_the_text_report_ends_with_the_findings() -> None:
    text = render_text(one_send(call(duration_ms=50.0)).to_dict())

    lines = text.splitlines()
    assert lines[-2] == "Findings (1):"
    assert lines[-1].startswith("  slow-receiver  shop.receivers.r on order_paid took")


def test_the_text_report_has_no_findings_section_without_findings() -> None:
    assert "Findings" not in render_text(one_send(call()).to_dict())


def test_the_html_tree_lists_the_findings_and_badges_what_they_concern() -> None:
    html = render_html(one_send(call(duration_ms=50.0)).to_dict())

    assert "1 finding</summary>" in html
    # One badge on the send's row, one on the receiver, one in the list.
    assert html.count('<span class="st-tag st-finding"') == 3
    assert 'title="shop.receivers.r on order_paid took 50.0 ms' in html


def test_the_command_prints_the_findings_and_puts_them_in_the_json() -> None:
    out = StringIO()
    call_command(
        "signaltrace", "publishbook", "", "--robust", stdout=out, stderr=StringIO()
    )
    assert "Findings (1):" in out.getvalue()
    assert "  swallowed-error  send_robust() of book_published caught " in (
        out.getvalue()
    )

    out = StringIO()
    call_command(
        "signaltrace",
        "--json",
        "publishbook",
        "",
        "--robust",
        stdout=out,
        stderr=StringIO(),
    )
    (finding,) = json.loads(out.getvalue())["findings"]
    assert (finding["code"], finding["event"]) == ("swallowed-error", 0)


# -------------------------------------------------------- assert_no_findings


def test_assert_no_findings_passes_on_a_trace_without_findings(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, does_nothing)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None)

    trace.assert_no_findings()


def test_assert_no_findings_fails_listing_each_finding(
    connect: Callable[..., None], chain: None
) -> None:
    connect(order_paid, fails)

    with signaltrace.capture() as trace:
        order_paid.send_robust(sender=None)

    with pytest.raises(AssertionError) as failure:
        trace.assert_no_findings()

    lines = str(failure.value).splitlines()
    assert lines[0] == "Expected no findings, but there were 2:"
    assert lines[1].startswith("  swallowed-error (send 1): send_robust() of order_")
    assert lines[2].startswith("  deep-chain (send 4): order_paid -> invoice_sent")


def test_assert_no_findings_with_codes_checks_only_those(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, fails)

    with signaltrace.capture() as trace:
        order_paid.send_robust(sender=None)

    trace.assert_no_findings("n-plus-one", "slow-receiver")
    with pytest.raises(AssertionError, match=r"^Expected no findings of swallowed-"):
        trace.assert_no_findings("swallowed-error")


def test_assert_no_findings_rejects_an_unknown_code() -> None:
    with signaltrace.capture() as trace:
        pass

    with pytest.raises(ValueError, match=r"Unknown finding code 'n\+1'"):
        trace.assert_no_findings("n+1")


def test_assert_no_findings_on_filtered_events_checks_only_them(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, fails)
    connect(invoice_sent, does_nothing)

    with signaltrace.capture() as trace:
        invoice_sent.send(sender=None)
        order_paid.send_robust(sender=None)

    trace.filter(invoice_sent).assert_no_findings()
    with pytest.raises(AssertionError, match=r"swallowed-error \(send 1\)"):
        trace.filter(order_paid).assert_no_findings()
