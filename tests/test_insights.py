"""Findings: the pitfalls of signals pointed at in a trace, and where they show."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models.signals import post_init, pre_init
from django.dispatch import Signal

import signaltrace
from signaltrace import insights, naming
from signaltrace.assertions import SignalTrace
from signaltrace.conf import DEFAULTS
from signaltrace.insights import CODES, Finding
from signaltrace.render import filter_trace, render_text
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


def call(
    name: str = "shop.receivers.r", *, duration_ms: float = 1.0, error: str = ""
) -> tuple[str, float, str]:
    """A receiver call for :func:`one_send`: its name, duration and error."""
    return name, duration_ms, error


def one_send(*calls: tuple[str, float, str], method: str = "send") -> SignalTrace:
    """A trace of one send of order_paid, recorded by hand with these calls."""
    trace = SignalTrace(DEFAULTS)
    event = SignalEvent(order_paid, method, "None", {}, None, None)
    for name, duration_ms, error in calls:
        recorded = ReceiverCall(event, naming.ReceiverInfo(name, None), False)
        recorded.duration = duration_ms / 1000
        if error:
            kind, _, message = error.partition(": ")
            recorded.error = ErrorInfo(f"builtins.{kind}", kind, message)
        event.receivers.append(recorded)
    trace.events.append(event)
    trace.ended_at = trace.started_at
    return trace


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
    assert "prefetch_related()" in finding.message


def test_the_same_query_run_max_repeated_queries_times_is_no_finding(
    connect: Callable[..., None],
) -> None:
    connect(order_paid, looks_up_authors)

    with signaltrace.capture() as trace:
        order_paid.send(sender=None, lookups=2)

    assert trace.findings == []


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
