"""The assert_* methods of a trace and of filter() results, with their messages."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from unittest import mock
from unittest.mock import ANY

import pytest
from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal

import signaltrace
from signaltrace.assertions import EventList
from signaltrace.testing import capture_signals
from tests.app.models import Author

M = __name__

order_paid = Signal()
order_completed = Signal()
order_refunded = Signal()
nobody_listens = Signal()
#: Never sent: its name is what the typos below are close to.
voucher_redeemed = Signal()


class Order:
    pass


class Refund:
    pass


def on_paid(sender: object, **kwargs: object) -> str:
    return "noted"


def on_refunded(sender: object, **kwargs: object) -> None:
    raise ValueError("card declined")


class Mailer:
    def on_completed(self, sender: object, **kwargs: object) -> None:
        pass


order_paid.connect(on_paid)
order_refunded.connect(on_refunded)
mailer = Mailer()
order_completed.connect(mailer.on_completed)


def failure(check: object) -> str:
    """Run an assertion expected to fail and return its message."""
    with pytest.raises(AssertionError) as excinfo:
        check()  # type: ignore[operator]
    return str(excinfo.value)


# ------------------------------------------------------------------ assert_sent


def test_assert_sent_returns_the_first_matching_event() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)
        order_paid.send(sender=Order, amount=20)

    event = trace.assert_sent(order_paid)

    assert event is trace.events[0]


def test_assert_sent_accepts_the_dotted_name_or_its_last_part() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    assert trace.assert_sent(f"{M}.order_paid") is trace.events[0]
    assert trace.assert_sent("order_paid") is trace.events[0]


def test_assert_sent_matches_the_sender_as_an_object_or_a_name() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Refund)
        order_paid.send(sender=Order)

    assert trace.assert_sent(order_paid, Order) is trace.events[1]
    assert trace.assert_sent(order_paid, sender=f"{M}.Order") is trace.events[1]
    assert trace.assert_sent(order_paid, sender="Order") is trace.events[1]


def test_a_model_sender_is_also_named_by_its_label() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Author)

    label = Author._meta.label  # "testapp.Author", as its instances are shown
    assert trace.assert_sent(order_paid, sender=label) is trace.events[0]
    assert not trace.filter(order_paid, sender="testapp.Book")


def test_sender_none_matches_only_sends_made_without_a_sender() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)
    failure(lambda: trace.assert_sent(order_paid, sender=None))

    with capture_signals() as trace:
        order_paid.send(sender=None)
    assert trace.assert_sent(order_paid, sender=None) is trace.events[0]


def test_assert_sent_matches_kwargs_by_equality() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10, currency="EUR")
        order_paid.send(sender=Order, amount=20, currency="EUR")

    assert trace.assert_sent(order_paid, amount=20) is trace.events[1]
    failure(lambda: trace.assert_sent(order_paid, amount=30))
    failure(lambda: trace.assert_sent(order_paid, missing=None))


def test_assert_sent_accepts_any_for_a_kwarg_that_must_be_present() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)

    assert trace.assert_sent(order_paid, amount=ANY) is trace.events[0]
    failure(lambda: trace.assert_sent(order_paid, currency=ANY))


def test_assert_sent_calls_a_function_given_as_a_kwarg_with_the_sent_value() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)
        order_paid.send(sender=Order, amount=20)

    assert trace.assert_sent(order_paid, amount=lambda a: a > 15) is trace.events[1]
    is_ten = functools.partial(int.__eq__, 10)
    assert trace.assert_sent(order_paid, amount=is_ten) is trace.events[0]


def test_assert_sent_compares_model_instances_and_callable_objects_by_equality() -> (
    None
):
    author = Author(id=1, name="Ada")
    handler = mock.Mock()
    with capture_signals() as trace:
        order_paid.send(sender=Order, author=author, handler=handler)

    assert trace.assert_sent(order_paid, author=Author(id=1)) is trace.events[0]
    assert trace.assert_sent(order_paid, handler=handler) is trace.events[0]
    handler.assert_not_called()
    failure(lambda: trace.assert_sent(order_paid, handler=mock.Mock()))


def test_assert_sent_matches_a_function_sent_as_a_kwarg_by_identity() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, callback=on_paid)

    assert trace.assert_sent(order_paid, callback=on_paid) is trace.events[0]


def test_assert_sent_with_count_returns_every_match_as_an_event_list() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)
        order_completed.send(sender=Order)
        order_paid.send(sender=Order, amount=20)

    events = trace.assert_sent(order_paid, count=2)

    assert isinstance(events, EventList)
    assert events == [trace.events[0], trace.events[2]]


def test_assert_sent_with_count_fails_with_both_numbers() -> None:
    with capture_signals() as trace:
        order_completed.send(sender=Order, number=7)

    message = failure(lambda: trace.assert_sent(order_completed, count=2))

    assert message.splitlines()[0] == (
        f"Expected {M}.order_completed to be sent twice, but it was sent once."
    )


def test_assert_sent_failure_says_what_was_expected_then_lists_the_sends() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)
        order_completed.send(sender=Refund, number=7)

    message = failure(lambda: trace.assert_sent(order_completed, Order, number=7))

    assert message == (
        f"Expected {M}.order_completed from {M}.Order with number=7 to be sent, "
        "but it was not sent.\n"
        f"Sends of {M}.order_completed, and what differed (1):\n"
        f"  2. sender: expected {M}.Order, sent {M}.Refund\n"
        "Sends that happened (2):\n"
        f"  1. {M}.order_paid  sender={M}.Order  kwargs: amount=10\n"
        f"     receivers: {M}.on_paid\n"
        f"  2. {M}.order_completed  sender={M}.Refund  kwargs: number=7\n"
        f"     receivers: {M}.Mailer.on_completed"
    )


def test_failure_says_so_when_nothing_was_sent() -> None:
    with capture_signals() as trace:
        pass

    message = failure(lambda: trace.assert_sent("order_paid", amount=ANY))

    assert message == (
        "Expected order_paid with amount=ANY to be sent, but it was not sent.\n"
        "Sends that happened: none."
    )


def test_failure_names_a_predicate_by_its_function() -> None:
    def positive(value: int) -> bool:
        return value > 0

    with capture_signals() as trace:
        pass

    message = failure(lambda: trace.assert_sent(order_paid, amount=positive))

    assert message.splitlines()[0] == (
        f"Expected {M}.order_paid with amount=<predicate {M}."
        "test_failure_names_a_predicate_by_its_function.<locals>.positive> "
        "to be sent, but it was not sent."
    )


def test_failure_masks_sensitive_kwargs_expected_and_sent() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, card_token="tok_123")

    message = failure(lambda: trace.assert_sent(order_paid, api_key="abc"))

    assert "tok_123" not in message
    assert "abc" not in message
    assert "api_key=********************" in message
    assert "card_token=********************" in message


def test_failure_lists_at_most_twenty_sends() -> None:
    with capture_signals() as trace:
        for number in range(25):
            order_completed.send(sender=Order, number=number)

    lines = failure(lambda: trace.assert_sent(order_paid)).splitlines()

    assert lines[1] == "Sends that happened (25):"
    assert lines[-3:] == [
        f"  20. {M}.order_completed  sender={M}.Order  kwargs: number=19",
        f"      receivers: {M}.Mailer.on_completed",
        "  ... and 5 more",
    ]


@pytest.mark.django_db
def test_failure_leaves_out_model_init_sends_nobody_received() -> None:
    Author.objects.create(name="Ada")
    with capture_signals() as trace:
        list(Author.objects.all())
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_sent(order_completed))

    assert message.splitlines()[1:] == [
        "Sends that happened (3):",
        f"  3. {M}.order_paid  sender={M}.Order",
        f"     receivers: {M}.on_paid",
        "  (2 sends of pre_init/post_init that reached no receiver not listed)",
    ]


def test_failure_lists_model_init_sends_when_they_are_what_was_expected() -> None:
    with capture_signals() as trace:
        Author(name="Ada")

    message = failure(lambda: trace.assert_sent("post_init", sender=Order))

    assert "  1. django.db.models.signals.pre_init  sender=" in message
    assert "not listed" not in message


def test_assert_sent_finds_a_send_nobody_receives() -> None:
    with capture_signals() as trace:
        nobody_listens.send(sender=Order, reason="new")

    event = trace.assert_sent(nobody_listens, reason="new")

    assert event.receivers == []


def test_failure_explains_sends_that_a_plain_capture_only_counted() -> None:
    with signaltrace.capture() as trace:
        nobody_listens.send(sender=Order)

    message = failure(lambda: trace.assert_sent(nobody_listens, reason="new"))

    assert message.splitlines()[-1] == (
        f"Note: {M}.nobody_listens was sent once without reaching a receiver. "
        "Such sends are only counted, without their kwargs, unless the capture "
        "records them (record_unreceived=True, as capture_signals() and the "
        "signal_trace fixture do)."
    )


def test_a_sender_passed_as_the_signal_is_rejected() -> None:
    with capture_signals() as trace:
        pass

    with pytest.raises(TypeError, match="Expected a Signal or a dotted name"):
        trace.assert_sent(Order)


@pytest.mark.parametrize("count", [-1, 1.5, True])
def test_count_must_be_a_whole_number(count: object) -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    with pytest.raises(ValueError, match="count must be a whole number"):
        trace.assert_sent(order_paid, count=count)  # type: ignore[call-overload]


# ------------------------------------------------------------------ near misses


def test_assert_sent_failure_lists_each_send_of_the_signal_with_what_differed() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10, currency="EUR")
        order_completed.send(sender=Order, number=7)
        order_paid.send(sender=Order, amount=20, currency="EUR")

    message = failure(lambda: trace.assert_sent(order_paid, amount=30, currency="EUR"))

    assert message.splitlines()[1:4] == [
        f"Sends of {M}.order_paid, and what differed (2):",
        "  1. amount: expected 30, sent 10",
        "  3. amount: expected 30, sent 20",
    ]
    assert message.splitlines()[4] == "Sends that happened (3):"


def test_near_misses_list_every_expected_value_that_differed_one_per_line() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Refund, amount=10, currency="EUR")

    message = failure(
        lambda: trace.assert_sent(order_paid, Order, amount=30, currency="USD")
    )

    assert message.splitlines()[1:5] == [
        f"Sends of {M}.order_paid, and what differed (1):",
        f"  1. sender: expected {M}.Order, sent {M}.Refund",
        "     amount: expected 30, sent 10",
        "     currency: expected USD, sent EUR",
    ]


def test_near_misses_name_expected_kwargs_the_send_did_not_have() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)

    message = failure(lambda: trace.assert_sent(order_paid, amount=10, currency=ANY))

    assert message.splitlines()[2] == "  1. currency: expected ANY, not sent"


def test_near_misses_show_types_when_expected_and_sent_values_read_the_same() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount="10")

    message = failure(lambda: trace.assert_sent(order_paid, amount=10))

    assert message.splitlines()[2] == "  1. amount: expected 10, sent '10'"


def test_near_misses_show_types_on_a_trace_without_live_values() -> None:
    with signaltrace.capture(record_unreceived=True) as trace:
        nobody_listens.send(sender=Order, amount="10")

    message = failure(lambda: trace.assert_sent(nobody_listens, amount=10))

    assert message.splitlines()[2] == "  1. amount: expected 10, sent '10'"


def test_near_misses_name_a_predicate_that_returned_false() -> None:
    def large(amount: int) -> bool:
        return amount > 100

    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)

    message = failure(lambda: trace.assert_sent(order_paid, amount=large))

    assert message.splitlines()[2] == (
        f"  1. amount: expected <predicate {M}.test_near_misses_name_a_predicate_"
        "that_returned_false.<locals>.large>, sent 10"
    )


def test_near_misses_keep_masked_values_masked() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, api_key="sent-secret")

    message = failure(lambda: trace.assert_sent(order_paid, api_key="expected-secret"))

    assert message.splitlines()[2] == "  1. api_key: differs (the values are masked)"
    assert "secret" not in message


def test_near_misses_are_listed_when_assert_sent_once_matched_nothing() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)

    message = failure(lambda: trace.assert_sent_once(order_paid, amount=20))

    assert message.splitlines()[1:3] == [
        f"Sends of {M}.order_paid, and what differed (1):",
        "  1. amount: expected 20, sent 10",
    ]


def test_near_misses_are_not_listed_when_some_send_matched() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)
        order_paid.send(sender=Order, amount=20)

    message = failure(lambda: trace.assert_sent_once(order_paid, amount=ANY))

    assert message.splitlines()[1] == "Sends that happened (2):"


def test_near_misses_list_at_most_twenty_sends() -> None:
    with capture_signals() as trace:
        for amount in range(25):
            order_paid.send(sender=Order, amount=amount)

    lines = failure(lambda: trace.assert_sent(order_paid, amount=-1)).splitlines()

    assert lines[1] == f"Sends of {M}.order_paid, and what differed (25):"
    assert lines[21:23] == ["  20. amount: expected -1, sent 19", "  ... and 5 more"]


# ------------------------------------------------------------------- name typos


def test_assert_sent_fails_on_a_signal_name_that_exists_nowhere() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_sent("voucher_redeemd"))

    assert message == (
        "Expected voucher_redeemd to be sent, but no signal named 'voucher_redeemd' "
        f"exists in this process; did you mean '{M}.voucher_redeemed'?"
    )


def test_assert_sent_once_fails_on_a_signal_name_that_exists_nowhere() -> None:
    with capture_signals() as trace:
        pass

    message = failure(lambda: trace.assert_sent_once(f"{M}.voucher_redemed"))

    assert message == (
        f"Expected {M}.voucher_redemed to be sent once, but no signal named "
        f"'{M}.voucher_redemed' exists in this process; did you mean "
        f"'{M}.voucher_redeemed'?"
    )


def test_assert_not_sent_fails_on_a_signal_name_that_exists_nowhere() -> None:
    with capture_signals() as trace:
        pass

    message = failure(lambda: trace.assert_not_sent("voucher_redeemd"))

    assert message.startswith(
        "Expected voucher_redeemd not to be sent, but no signal named "
        "'voucher_redeemd' exists in this process; did you mean"
    )


def test_assert_sent_with_count_0_fails_on_a_signal_name_that_exists_nowhere() -> None:
    with capture_signals() as trace:
        pass

    message = failure(lambda: trace.assert_sent("voucher_redeemd", count=0))

    assert message.startswith("Expected voucher_redeemd to be sent 0 times, but no ")


def test_assert_order_fails_on_a_signal_name_that_exists_nowhere() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_order(order_paid, "voucher_redeemd"))

    assert message == (
        f"Expected the first sends of {M}.order_paid, voucher_redeemd in that "
        "order, but no signal named 'voucher_redeemd' exists in this process; "
        f"did you mean '{M}.voucher_redeemed'?"
    )


def test_a_signal_name_close_to_nothing_gets_no_suggestion() -> None:
    with capture_signals() as trace:
        pass

    message = failure(lambda: trace.assert_sent("qqqqqqqqqqqqqqqqqqqq"))

    assert message.endswith(
        "no signal named 'qqqqqqqqqqqqqqqqqqqq' exists in this process."
    )


def test_a_signal_name_that_exists_but_was_not_sent_passes_assert_not_sent() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    trace.assert_not_sent("voucher_redeemed")
    trace.assert_sent("voucher_redeemed", count=0)


def test_a_signal_made_in_a_function_exists_once_sent() -> None:
    local_signal = Signal()
    with capture_signals() as trace:
        local_signal.send(sender=Order)
    name = trace.events[0].name

    assert trace.assert_sent(name) is trace.events[0]
    trace.assert_not_sent(name, sender=Refund)


def test_assert_sent_fails_on_a_sender_name_known_nowhere() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_sent(order_paid, sender="Ordr"))

    assert message.startswith(
        f"Expected {M}.order_paid from Ordr to be sent, but no sender named 'Ordr' "
        f"is known in this process; did you mean '{M}.Order'"
    )


def test_assert_order_fails_on_a_sender_name_known_nowhere() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)
        order_completed.send(sender=Order)

    message = failure(lambda: trace.assert_order(order_paid, (order_completed, "Ordr")))

    assert "but no sender named 'Ordr' is known in this process" in message


def test_a_sender_name_known_but_not_sent_keeps_the_not_sent_message() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_sent(order_paid, sender="Refund"))

    assert message.splitlines()[0] == (
        f"Expected {M}.order_paid from Refund to be sent, but it was not sent."
    )


def test_assert_not_sent_does_not_check_sender_names() -> None:
    # A string sender that was never sent cannot be told from a typo.
    with capture_signals() as trace:
        order_paid.send(sender="tenant-a")

    trace.assert_not_sent(order_paid, sender="tenant-b")


# ------------------------------------------------------------- assert_sent_once


def test_assert_sent_once_returns_the_only_matching_event() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)
        order_paid.send(sender=Refund, amount=10)

    assert trace.assert_sent_once(order_paid, Order, amount=10) is trace.events[0]


def test_assert_sent_once_fails_when_sent_twice() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_sent_once(order_paid, Order))

    assert message.splitlines()[0] == (
        f"Expected {M}.order_paid from {M}.Order to be sent once, "
        "but it was sent twice."
    )


# -------------------------------------------------------------- assert_not_sent


def test_assert_not_sent_passes_when_only_other_sends_happened() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Refund, amount=10)

    trace.assert_not_sent(order_completed)
    trace.assert_not_sent(order_paid, sender=Order)
    trace.assert_not_sent(order_paid, amount=20)


def test_assert_not_sent_fails_with_the_number_of_matching_sends() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order, amount=10)

    message = failure(lambda: trace.assert_not_sent(order_paid, amount=10))

    assert message == (
        f"Expected {M}.order_paid with amount=10 not to be sent, "
        "but it was sent once.\n"
        "Sends that happened (1):\n"
        f"  1. {M}.order_paid  sender={M}.Order  kwargs: amount=10\n"
        f"     receivers: {M}.on_paid"
    )


def test_assert_not_sent_fails_on_sends_a_plain_capture_only_counted() -> None:
    with signaltrace.capture() as trace:
        nobody_listens.send(sender=Order)

    message = failure(lambda: trace.assert_not_sent(nobody_listens, reason="new"))

    assert message.splitlines()[0] == (
        f"Expected {M}.nobody_listens with reason=new not to be sent, but 1 send "
        "of it reached no receiver and could not be checked."
    )


# ------------------------------------------------------- assert_receiver_called


def test_assert_receiver_called_finds_a_function_by_object_or_name() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    call = trace.assert_receiver_called(on_paid)

    assert call.response == "noted"
    assert trace.assert_receiver_called(f"{M}.on_paid") is call
    assert trace.assert_receiver_called("on_paid") is call


def test_assert_receiver_called_finds_a_method_bound_or_through_its_class() -> None:
    with capture_signals() as trace:
        order_completed.send(sender=Order)

    call = trace.assert_receiver_called(mailer.on_completed)

    assert trace.assert_receiver_called(Mailer.on_completed) is call
    assert trace.assert_receiver_called("Mailer.on_completed") is call
    trace.assert_receiver_not_called(Mailer().on_completed)


def test_assert_receiver_called_with_count_returns_every_call() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)
        order_paid.send(sender=Refund)

    calls = trace.assert_receiver_called(on_paid, count=2)

    assert [call.event for call in calls] == trace.events


def test_assert_receiver_called_fails_with_the_calls_counted() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_receiver_called(on_paid, count=3))

    assert message == (
        f"Expected receiver {M}.on_paid to be called 3 times, "
        "but it was called once.\n"
        "Sends that happened (1):\n"
        f"  1. {M}.order_paid  sender={M}.Order\n"
        f"     receivers: {M}.on_paid"
    )


def test_assert_receiver_called_fails_when_never_called() -> None:
    with capture_signals() as trace:
        pass

    message = failure(lambda: trace.assert_receiver_called("on_refunded"))

    assert message.splitlines()[0] == (
        "Expected receiver on_refunded to be called, but it was not called."
    )


def test_assert_receiver_not_called_fails_when_called() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_receiver_not_called(on_paid))

    assert message.splitlines()[0] == (
        f"Expected receiver {M}.on_paid not to be called, but it was called once."
    )


# ----------------------------------------------------------------- assert_order


def test_assert_order_compares_the_first_send_of_each_signal() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)
        order_completed.send(sender=Order)
        order_paid.send(sender=Order)

    firsts = trace.assert_order(order_paid, "order_completed")

    assert firsts == [trace.events[0], trace.events[1]]


def test_assert_order_accepts_signal_and_sender_pairs() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Refund)
        order_completed.send(sender=Order)
        order_paid.send(sender=Order)

    trace.assert_order((order_completed, Order), (order_paid, Order))
    failure(lambda: trace.assert_order(order_completed, order_paid))


def test_assert_order_fails_naming_the_sends_out_of_order() -> None:
    with capture_signals() as trace:
        order_completed.send(sender=Order)
        order_paid.send(sender=Order)

    message = failure(
        lambda: trace.assert_order((order_paid, Order), "order_completed")
    )

    assert message.splitlines()[0] == (
        f"Expected the first sends of {M}.order_paid from {M}.Order, order_completed "
        "in that order, but the first order_completed (send 1) came before the "
        f"first {M}.order_paid from {M}.Order (send 2)."
    )


def test_assert_order_fails_when_a_signal_was_not_sent() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    message = failure(lambda: trace.assert_order("order_paid", "order_completed"))

    assert message.splitlines()[0] == (
        "Expected the first sends of order_paid, order_completed in that order, "
        "but order_completed was not sent."
    )


def test_assert_order_needs_two_different_signals() -> None:
    with capture_signals() as trace:
        pass

    with pytest.raises(TypeError):
        trace.assert_order(order_paid)
    with pytest.raises(ValueError, match="got a signal twice"):
        trace.assert_order(order_paid, order_paid)


# ------------------------------------------------------------- assert_no_errors


def test_assert_no_errors_passes_when_no_receiver_raised() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)

    trace.assert_no_errors()


def test_assert_no_errors_reports_errors_that_send_robust_caught() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Order)
        order_refunded.send_robust(sender=Order, amount=10)

    message = failure(trace.assert_no_errors)

    assert message == (
        "Expected no receiver to raise, but 1 call did:\n"
        f"  2. {M}.order_refunded  sender={M}.Order  [send_robust]  kwargs: amount=10\n"
        f"     {M}.on_refunded raised ValueError: card declined (send_robust caught it)"
    )


def test_assert_no_errors_reports_errors_that_propagated() -> None:
    with capture_signals() as trace, pytest.raises(ValueError, match="declined"):
        order_refunded.send(sender=Order)

    message = failure(trace.assert_no_errors)

    assert message.splitlines()[2] == (
        f"     {M}.on_refunded raised ValueError: card declined"
    )


# ----------------------------------------------------------------------- filter


def test_filter_results_have_the_same_assertions() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Refund)
        order_completed.send(sender=Order)
        order_paid.send(sender=Order)

    orders = trace.filter(sender=Order)

    assert isinstance(orders, EventList)
    orders.assert_order(order_completed, order_paid)
    orders.assert_sent_once(order_paid)


def test_filter_result_failures_list_only_its_events() -> None:
    with capture_signals() as trace:
        order_paid.send(sender=Refund)
        order_completed.send(sender=Order)

    message = failure(lambda: trace.filter(sender=Order).assert_sent(order_paid))

    assert message == (
        f"Expected {M}.order_paid to be sent, but it was not sent.\n"
        "Sends in this list (1):\n"
        f"  1. {M}.order_completed  sender={M}.Order\n"
        f"     receivers: {M}.Mailer.on_completed"
    )


# ----------------------------------------------------------------- model signals


@pytest.fixture
def author_saved() -> Iterator[list[object]]:
    """A post_save receiver for Author that keeps what it got."""
    seen: list[object] = []

    def remember(sender: object, instance: object, **kwargs: object) -> None:
        seen.append(instance)

    post_save.connect(remember, sender=Author)
    yield seen
    post_save.disconnect(remember, sender=Author)


@pytest.mark.django_db
@pytest.mark.usefixtures("author_saved")
def test_model_signals_match_the_saved_instance() -> None:
    with capture_signals() as trace:
        author = Author.objects.create(name="Ada")

    trace.assert_sent_once(post_save, sender=Author, instance=author, created=True)
    trace.assert_order(pre_save, post_save)
    trace.assert_receiver_called("remember")
