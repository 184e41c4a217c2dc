"""capture_signals() and SignalTraceMixin for unittest and Django test cases."""

from __future__ import annotations

import unittest

import django
import pytest
from asgiref.sync import sync_to_async
from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal
from django.test import TestCase

from signaltrace.testing import SignalTraceMixin, capture_signals
from tests.app.models import Author

M = __name__

order_completed = Signal()
nobody_listens = Signal()


class Order:
    pass


def send_receipt(sender: object, **kwargs: object) -> None:
    pass


order_completed.connect(send_receipt)


def run_case(case: unittest.TestCase) -> unittest.TestResult:
    result = unittest.TestResult()
    case.run(result)
    return result


# ------------------------------------------------------------ capture_signals


def test_capture_signals_records_sends_nobody_receives() -> None:
    with capture_signals() as trace:
        nobody_listens.send(sender=Order, reason="new")

    assert [event.kwargs for event in trace.events] == [{"reason": "new"}]
    assert trace.counts == {}


def test_capture_signals_stops_storing_at_max_events() -> None:
    with capture_signals(max_events=1) as trace:
        nobody_listens.send(sender=Order)
        nobody_listens.send(sender=Order)

    assert len(trace.events) == 1
    assert trace.dropped == 1


# ------------------------------------------------- the mixin, unittest.TestCase


class _Checkout(SignalTraceMixin, unittest.TestCase):
    """Test cases run by the tests below, not collected themselves."""

    __test__ = False

    def setUp(self) -> None:
        order_completed.send(sender=Order, step="setUp")

    def tearDown(self) -> None:
        order_completed.send(sender=Order, step="tearDown")

    def test_completes(self) -> None:
        order_completed.send(sender=Order, step="test")

    def test_expects_a_send_that_did_not_happen(self) -> None:
        self.assertSignalSent(nobody_listens)

    @unittest.skip("skipped on purpose")
    def test_skipped(self) -> None:
        order_completed.send(sender=Order, step="test")

    @unittest.expectedFailure
    def test_fails_as_expected(self) -> None:
        self.assertSignalNotSent(order_completed)
        order_completed.send(sender=Order, step="test")
        self.assertSignalNotSent(order_completed)


def test_mixin_records_the_test_method_only() -> None:
    case = _Checkout("test_completes")

    result = run_case(case)

    assert result.wasSuccessful()
    steps = [event.kwargs["step"] for event in case.signal_trace.events]
    assert steps == ["test"]


def test_mixin_reports_a_failed_assertion_with_its_message() -> None:
    case = _Checkout("test_expects_a_send_that_did_not_happen")

    result = run_case(case)

    [(_, traceback)] = result.failures
    assert traceback.endswith(
        f"AssertionError: Expected {M}.nobody_listens to be sent, "
        "but it was not sent.\nSends that happened: none.\n"
    )


def test_mixin_failure_traceback_leaves_out_signaltrace_frames() -> None:
    case = _Checkout("test_expects_a_send_that_did_not_happen")

    [(_, traceback)] = run_case(case).failures

    assert "signaltrace" not in traceback.replace(f"{M}.", "")


def test_mixin_keeps_unittest_decorators_working() -> None:
    skipped = run_case(_Checkout("test_skipped"))
    expected_failure = run_case(_Checkout("test_fails_as_expected"))

    assert [reason for _, reason in skipped.skipped] == ["skipped on purpose"]
    assert len(expected_failure.expectedFailures) == 1


def test_mixin_restores_the_test_method_after_the_run() -> None:
    case = _Checkout("test_completes")

    run_case(case)

    assert "test_completes" not in case.__dict__


def test_mixin_traces_debug_runs() -> None:
    case = _Checkout("test_completes")

    case.debug()

    case.signal_trace.assert_sent_once(order_completed, step="test")


class _AsyncCheckout(SignalTraceMixin, unittest.IsolatedAsyncioTestCase):
    __test__ = False

    async def test_completes(self) -> None:
        await order_completed.asend(sender=Order, step="test")
        self.assertReceiverCalled(send_receipt)


@pytest.mark.skipif(django.VERSION < (5, 0), reason="Signal.asend: Django 5.0+")
def test_mixin_traces_async_test_methods() -> None:
    case = _AsyncCheckout("test_completes")

    result = run_case(case)

    assert result.wasSuccessful(), result.failures
    assert case.signal_trace.assert_sent_once(order_completed).method == "asend"


# --------------------------------------------------- the mixin, Django TestCase


class SignalTraceMixinDjangoTests(SignalTraceMixin, TestCase):
    """The mixin on Django's TestCase, collected and run by pytest-django."""

    author: Author

    @classmethod
    def setUpTestData(cls) -> None:
        cls.author = Author.objects.create(name="From setUpTestData")

    def setUp(self) -> None:
        Author.objects.create(name="From setUp")

    def test_assert_signal_sent_returns_the_event(self) -> None:
        author = Author.objects.create(name="Ada")

        event = self.assertSignalSent(post_save, sender=Author, created=True)

        assert event.live_kwargs is not None
        assert event.live_kwargs["instance"] == author

    def test_assert_signal_sent_with_count(self) -> None:
        Author.objects.create(name="Ada")

        events = self.assertSignalSent("pre_save", sender="Author", count=1)

        assert len(events) == 1

    def test_sends_of_setup_and_set_up_test_data_are_left_out(self) -> None:
        self.assertSignalNotSent(post_save)

    def test_assert_signal_not_sent_fails_with_the_sends(self) -> None:
        self.author.save()

        with pytest.raises(self.failureException) as excinfo:
            self.assertSignalNotSent(pre_save, sender=Author)

        assert str(excinfo.value).splitlines()[:2] == [
            "Expected django.db.models.signals.pre_save from "
            "tests.app.models.Author not to be sent, but it was sent once.",
            "Sends that happened (2):",
        ]

    def test_assert_receiver_called(self) -> None:
        order_completed.send(sender=Order)

        call = self.assertReceiverCalled(send_receipt)

        assert self.assertReceiverCalled("send_receipt", count=1) == [call]

    def test_assert_receiver_called_fails_with_the_sends(self) -> None:
        with pytest.raises(self.failureException) as excinfo:
            self.assertReceiverCalled(send_receipt)

        assert str(excinfo.value) == (
            f"Expected receiver {M}.send_receipt to be called, but it was not "
            "called.\nSends that happened: none."
        )

    async def test_async_test_methods_are_traced(self) -> None:
        if django.VERSION < (5, 0):  # Signal.asend is new in Django 5.0
            await sync_to_async(order_completed.send)(sender=Order)
        else:
            await order_completed.asend(sender=Order)

        self.assertSignalSent(order_completed, sender=Order)
