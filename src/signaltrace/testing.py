"""Test helpers for any test framework: :func:`capture_signals` and a TestCase mixin.

With pytest, the ``signal_trace`` fixture (see :mod:`signaltrace.pytest_plugin`)
does the same as :func:`capture_signals` around the test body. The assertions
themselves are methods of the trace, documented in
:mod:`signaltrace.assertions`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, overload
from unittest.mock import ANY

from signaltrace.capturing import capture

if TYPE_CHECKING:
    from unittest import TestCase

    from signaltrace.assertions import EventList, SignalTrace
    from signaltrace.trace import ReceiverCall, SignalEvent

    _TestCase = TestCase
else:
    _TestCase = object

__all__ = ["ANY", "SignalTraceMixin", "capture_signals"]

# Leave this module's frames out of unittest's failure tracebacks.
__unittest = True


def capture_signals(*, max_events: int | None = None) -> capture:
    """Record every signal sent while the block runs, for asserting on::

        with capture_signals() as trace:
            checkout(cart)
        trace.assert_sent_once("order_completed", sender=Order)

    Unlike a plain :func:`signaltrace.capture`, sends that reach no receiver
    are recorded as full events, so a test can assert on a custom signal
    nobody listens to yet, and the live values are kept, so that assertions
    compare the real objects (``instance=order``) and predicates get them.
    """
    return capture(record_unreceived=True, max_events=max_events, keep_values=True)


class SignalTraceMixin(_TestCase):
    """Signal assertions for ``unittest.TestCase`` and Django's test cases::

        class CheckoutTests(SignalTraceMixin, TestCase):
            def test_completes_order(self):
                order = checkout(self.cart)
                self.assertSignalSent(order_completed, sender=Order, order=order)

    The signals sent by the test method are recorded in ``self.signal_trace``
    (a :class:`~signaltrace.assertions.SignalTrace`, with every ``assert_*``
    method);
    ``setUp``, ``setUpTestData`` and ``tearDown`` are left out, so the data
    they create does not count. Failures raise ``self.failureException``.
    """

    #: What the running test method sent; set when the method starts.
    signal_trace: SignalTrace

    def run(self, result: Any = None) -> Any:
        """Run the test with its method wrapped in :func:`capture_signals`."""
        with self._tracing_test_method():
            return super().run(result)

    def debug(self) -> None:
        """Like :meth:`run`, for ``debug()`` runs (which bypass ``run``)."""
        with self._tracing_test_method():
            super().debug()

    @contextmanager
    def _tracing_test_method(self) -> Iterator[None]:
        # The method is replaced on the instance, as Django does to run async
        # tests: unlike setUp, this needs no call to super() from the user.
        name = self._testMethodName
        method = getattr(self, name, None)
        if method is None:
            yield
            return
        saved = self.__dict__.get(name, _MISSING)
        setattr(self, name, self._traced(method))
        try:
            yield
        finally:
            if saved is _MISSING:
                self.__dict__.pop(name, None)
            else:
                setattr(self, name, saved)

    def _traced(self, method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def traced_async(*args: Any, **kwargs: Any) -> Any:
                async with capture_signals() as trace:
                    self.signal_trace = trace
                    return await method(*args, **kwargs)

            return traced_async

        @functools.wraps(method)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with capture_signals() as trace:
                self.signal_trace = trace
                return method(*args, **kwargs)

        return traced

    @overload
    def assertSignalSent(
        self,
        signal: object,
        sender: object = ...,
        *,
        count: None = None,
        **kwargs: Any,
    ) -> SignalEvent: ...

    @overload
    def assertSignalSent(
        self, signal: object, sender: object = ..., *, count: int, **kwargs: Any
    ) -> EventList: ...

    def assertSignalSent(
        self,
        signal: object,
        sender: object = ANY,
        *,
        count: int | None = None,
        **kwargs: Any,
    ) -> SignalEvent | EventList:
        """Assert that the test sent *signal*; see ``Trace.assert_sent``.

        Returns the first matching event, or the list of them when *count* is
        given.
        """
        try:
            if count is None:
                # Typed through a variable: with **kwargs, mypy cannot pick
                # the overload (kwargs might hold "count").
                event: SignalEvent = self.signal_trace.assert_sent(
                    signal, sender, **kwargs
                )
                return event
            return self.signal_trace.assert_sent(signal, sender, count=count, **kwargs)
        except AssertionError as error:
            raise self.failureException(str(error)) from None

    def assertSignalNotSent(
        self, signal: object, sender: object = ANY, **kwargs: Any
    ) -> None:
        """Assert that the test did not send *signal*; see ``Trace.assert_not_sent``."""
        try:
            self.signal_trace.assert_not_sent(signal, sender, **kwargs)
        except AssertionError as error:
            raise self.failureException(str(error)) from None

    @overload
    def assertReceiverCalled(
        self, receiver: object, *, count: None = None
    ) -> ReceiverCall: ...

    @overload
    def assertReceiverCalled(
        self, receiver: object, *, count: int
    ) -> list[ReceiverCall]: ...

    def assertReceiverCalled(
        self, receiver: object, *, count: int | None = None
    ) -> ReceiverCall | list[ReceiverCall]:
        """Assert that *receiver* ran; see ``Trace.assert_receiver_called``."""
        try:
            if count is None:
                return self.signal_trace.assert_receiver_called(receiver)
            return self.signal_trace.assert_receiver_called(receiver, count=count)
        except AssertionError as error:
            raise self.failureException(str(error)) from None


_MISSING: Any = object()
