"""Assertions on captured signals: the ``assert_*`` methods of a trace.

:class:`TraceAssertions` is mixed into :class:`~signaltrace.trace.Trace` and into
:class:`EventList`, what ``Trace.filter()`` returns, so that the same checks read
naturally on a whole capture or on a part of it::

    trace.assert_sent(post_save, sender=User, created=True)
    trace.filter(sender=Order).assert_order(pre_save, post_save)

The module lives apart from ``testing.py`` so that ``trace.py`` can import it
without importing the recorder (which imports ``trace.py``): the data model
gets its assertion methods, and nothing here needs the data model at runtime.

Failures raise :class:`AssertionError` (pytest, unittest and plain scripts all
report it) with a message in the style of pytest-django's
``django_assert_num_queries``: what was expected, then the sends that did
happen, numbered and short, with values shown through
:func:`signaltrace.values.safe_repr` (masked and truncated).

Matching rules, shared by every method:

- a signal is a ``Signal`` object or its dotted name; a name without dots
  matches the last part (``"post_save"``);
- a sender is the object itself or its dotted name (``"shop.models.Order"`` or
  ``"Order"``); ``None`` means "sent with ``sender=None``", ``ANY`` (the
  default) means any sender;
- a receiver is the callable that was connected (a method given through its
  class matches it bound to any instance) or its dotted name;
- an expected keyword argument matches when the sent value is the same
  object, or when it is a *predicate* (a plain function, lambda, bound method,
  builtin function or ``functools.partial``) that returns a true value for the
  sent value, or else when it compares equal (so ``unittest.mock.ANY``, model
  instances, classes and callable objects such as mocks compare with ``==``).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any, NoReturn, overload
from unittest.mock import ANY

from django.dispatch import Signal

from signaltrace import insights, naming, snapshot
from signaltrace.conf import DEFAULTS, Config
from signaltrace.values import format_exception, is_hidden, safe_kwargs, safe_repr

if TYPE_CHECKING:
    from signaltrace.insights import Finding
    from signaltrace.trace import ReceiverCall, SignalEvent

__all__ = ["ANY", "MAX_LISTED", "EventList", "Sends", "TraceAssertions"]

#: Most sends listed in a failure message; the rest are counted.
MAX_LISTED = 20

_MODEL_INIT_NAMES = frozenset({"pre_init", "post_init"})


@dataclass(frozen=True)
class Sends:
    """What the assertions look at, as given by a Trace or an EventList.

    Attributes:
        events: the recorded sends, in start order.
        config: the settings used to show values.
        counts: sends that reached no receiver and were only counted, keyed by
            ``(signal name, sender name)``.
        dropped: sends not stored because ``MAX_EVENTS`` was reached.
        title: how a failure message introduces the listing of ``events``.
    """

    events: Sequence[SignalEvent]
    config: Config
    counts: Mapping[tuple[str, str], int]
    dropped: int
    title: str


class TraceAssertions:
    """The assertion methods shared by :class:`~signaltrace.trace.Trace` and
    :class:`EventList`. See the module documentation for the matching rules.
    """

    def _sends(self) -> Sends:
        """Return the events to check and how to describe them."""
        raise NotImplementedError

    def _findings(self) -> list[Finding]:
        """Return the findings of the events checked (a Trace keeps its own)."""
        sends = self._sends()
        return insights.find(sends.events, sends.config)

    # ----------------------------------------------------------------- sends

    @overload
    def assert_sent(
        self, signal: object, sender: object = ..., *, count: None = None, **kwargs: Any
    ) -> SignalEvent: ...

    @overload
    def assert_sent(
        self, signal: object, sender: object = ..., *, count: int, **kwargs: Any
    ) -> EventList: ...

    def assert_sent(
        self,
        signal: object,
        sender: object = ANY,
        *,
        count: int | None = None,
        **kwargs: Any,
    ) -> SignalEvent | EventList:
        """Assert that *signal* was sent by *sender* with *kwargs*.

        Arguments:
            signal: a Signal or its dotted name.
            sender: the sender or its dotted name; ``ANY`` matches every sender.
            count: how many matching sends are expected exactly; None means at
                least one.
            kwargs: keyword arguments the send must have had (see the module
                documentation for how values match).

        Returns:
            the first matching event, or all of them (an :class:`EventList`)
            when *count* is given.
        """
        __tracebackhide__ = True
        sends = self._sends()
        matches = _matching(sends, signal, sender, kwargs)
        if count is None:
            if matches:
                return matches[0]
            expected = f"Expected {_describe(signal, sender, kwargs, sends.config)} "
            _fail(
                expected + "to be sent, but it was not sent.",
                sends,
                signal=signal,
                note=_counted_note(sends, signal, sender),
            )
        _check_count(count)
        if len(matches) != count:
            _fail(
                f"Expected {_describe(signal, sender, kwargs, sends.config)} to be "
                f"sent {_times(count)}, but it was sent {_times(len(matches))}.",
                sends,
                signal=signal,
                note=_counted_note(sends, signal, sender),
            )
        return EventList(matches, sends.config)

    def assert_sent_once(
        self, signal: object, sender: object = ANY, **kwargs: Any
    ) -> SignalEvent:
        """Assert that exactly one send matches (see :meth:`assert_sent`); return it."""
        __tracebackhide__ = True
        return self.assert_sent(signal, sender, count=1, **kwargs)[0]

    def assert_not_sent(
        self, signal: object, sender: object = ANY, **kwargs: Any
    ) -> None:
        """Assert that no send matches (arguments as for :meth:`assert_sent`).

        Sends that reached no receiver and were only counted (a capture without
        ``record_unreceived``) count as matches when signal and sender match:
        their keyword arguments were not kept, so they cannot be ruled out.
        """
        __tracebackhide__ = True
        sends = self._sends()
        matches = _matching(sends, signal, sender, kwargs)
        counted = _counted(sends, signal, sender)
        if not matches and not counted:
            return
        described = _describe(signal, sender, kwargs, sends.config)
        if matches:
            happened = f"it was sent {_times(len(matches) + counted)}."
        else:
            happened = (
                f"{_times(counted, 'send')} of it reached no receiver and "
                "could not be checked."
            )
        _fail(
            f"Expected {described} not to be sent, but {happened}",
            sends,
            signal=signal,
            note=_counted_note(sends, signal, sender),
        )

    # ------------------------------------------------------------- receivers

    @overload
    def assert_receiver_called(
        self, receiver: object, *, count: None = None
    ) -> ReceiverCall: ...

    @overload
    def assert_receiver_called(
        self, receiver: object, *, count: int
    ) -> list[ReceiverCall]: ...

    def assert_receiver_called(
        self, receiver: object, *, count: int | None = None
    ) -> ReceiverCall | list[ReceiverCall]:
        """Assert that *receiver* (a callable or its dotted name) was called.

        Arguments:
            receiver: the connected callable, or its dotted name.
            count: how many calls are expected exactly; None means at least one.

        Returns:
            the first call, or all of them when *count* is given.
        """
        __tracebackhide__ = True
        sends = self._sends()
        calls = _calls_of(sends, receiver)
        name = _receiver_label(receiver)
        if count is None:
            if calls:
                return calls[0]
            _fail(
                f"Expected receiver {name} to be called, but it was not called.",
                sends,
            )
        _check_count(count)
        if len(calls) != count:
            _fail(
                f"Expected receiver {name} to be called {_times(count)}, "
                f"but it was called {_times(len(calls))}.",
                sends,
            )
        return calls

    def assert_receiver_not_called(self, receiver: object) -> None:
        """Assert that *receiver* (a callable or its dotted name) was never called."""
        __tracebackhide__ = True
        sends = self._sends()
        calls = _calls_of(sends, receiver)
        if calls:
            _fail(
                f"Expected receiver {_receiver_label(receiver)} not to be called, "
                f"but it was called {_times(len(calls))}.",
                sends,
            )

    # ----------------------------------------------------------------- order

    def assert_order(self, *signals: object) -> EventList:
        """Assert that the first send of each signal happened in the given order.

        Each argument is a signal (object or dotted name) or a
        ``(signal, sender)`` pair. Only the first matching send of each counts:
        ``assert_order(pre_save, post_save)`` passes when the first
        ``pre_save`` came before the first ``post_save``.

        Returns:
            those first sends, in the given order.
        """
        __tracebackhide__ = True
        if len(signals) < 2:
            raise TypeError("assert_order() needs at least two signals to compare.")
        sends = self._sends()
        wanted = [_order_item(item) for item in signals]
        labels = [_order_label(signal, sender) for signal, sender in wanted]
        if len(set(labels)) != len(labels):
            raise ValueError(f"assert_order() got a signal twice: {', '.join(labels)}.")
        expected = f"Expected the first sends of {', '.join(labels)} in that order"
        positions: list[int] = []
        for (signal, sender), label in zip(wanted, labels, strict=True):
            position = _first(sends.events, signal, sender)
            if position is None:
                _fail(
                    f"{expected}, but {label} was not sent.",
                    sends,
                    signal=signal,
                    note=_counted_note(sends, signal, sender),
                )
            positions.append(position)
        for index in range(len(positions) - 1):
            before, after = positions[index], positions[index + 1]
            if after <= before:
                _fail(
                    f"{expected}, but the first {labels[index + 1]} (send "
                    f"{after + 1}) came before the first {labels[index]} "
                    f"(send {before + 1}).",
                    sends,
                )
        return EventList([sends.events[p] for p in positions], sends.config)

    # ---------------------------------------------------------------- errors

    def assert_no_errors(self) -> None:
        """Assert that no receiver raised, counting errors ``send_robust`` caught."""
        __tracebackhide__ = True
        sends = self._sends()
        failed = [
            (number, event, call)
            for number, event in enumerate(sends.events, 1)
            for call in event.receivers
            if call.exception is not None
        ]
        if not failed:
            return
        lines = [
            f"Expected no receiver to raise, but {_times(len(failed), 'call')} did:"
        ]
        for number, event, call in failed[:MAX_LISTED]:
            prefix = f"  {number}. "
            lines.append(prefix + _event_line(event, sends.config))
            caught = (
                " (send_robust caught it)" if event.method.endswith("robust") else ""
            )
            error = format_exception(call.exception, sends.config)
            lines.append(f"{' ' * len(prefix)}{call.name} raised {error}{caught}")
        if len(failed) > MAX_LISTED:
            lines.append(f"  ... and {len(failed) - MAX_LISTED} more")
        raise AssertionError("\n".join(lines))

    # -------------------------------------------------------------- findings

    def assert_no_findings(self, *codes: str) -> None:
        """Assert that no finding (of these codes, if any are given) was made.

        Codes are those of :data:`signaltrace.insights.CODES`, such as
        ``"n-plus-one"`` or ``"slow-receiver"``; an unknown code raises
        ValueError rather than pass unnoticed. The failure lists each finding
        with the number of the send it concerns and its message.
        """
        __tracebackhide__ = True
        insights.check_codes(codes)
        found = [f for f in self._findings() if not codes or f.code in codes]
        if not found:
            return
        kinds = f" of {', '.join(codes)}" if codes else ""
        lines = [
            f"Expected no findings{kinds}, but there "
            + ("was 1:" if len(found) == 1 else f"were {len(found)}:")
        ]
        for finding in found[:MAX_LISTED]:
            lines.append(
                f"  {finding.code} (send {finding.event + 1}): {finding.message}"
            )
        if len(found) > MAX_LISTED:
            lines.append(f"  ... and {len(found) - MAX_LISTED} more")
        raise AssertionError("\n".join(lines))

    # -------------------------------------------------------------- snapshot

    def assert_matches_snapshot(self, path: str | PathLike[str] | None = None) -> None:
        """Assert that the sends match the stored snapshot, writing it the first time.

        The sends are rendered by :func:`signaltrace.snapshot.render`: signals,
        senders, receivers, nesting and errors, without anything that varies
        between runs. Under pytest the file is
        ``__signals__/<test module>/<test name>.txt`` next to the test module
        (see :mod:`signaltrace.pytest_plugin`) and ``--signaltrace-update``
        rewrites it; elsewhere pass *path*.
        """
        __tracebackhide__ = True
        sends = self._sends()
        text = snapshot.render(sends.events, sends.config, dropped=sends.dropped)
        snapshot.assert_matches(text, path)


class EventList(list["SignalEvent"], TraceAssertions):
    """A list of events that answers the same assertions as a trace.

    ``Trace.filter()`` returns one, so a check can be narrowed first::

        trace.filter(sender=Order).assert_order(pre_save, post_save)
    """

    def __init__(
        self, events: Iterable[SignalEvent] = (), config: Config = DEFAULTS
    ) -> None:
        super().__init__(events)
        #: The settings used to show values in failure messages.
        self.config = config

    def _sends(self) -> Sends:
        return Sends(self, self.config, {}, 0, "Sends in this list")


# ------------------------------------------------------------------ matching


def _check_signal(signal: object) -> None:
    if not isinstance(signal, (str, Signal)):
        raise TypeError(
            f"Expected a Signal or a dotted name, got {safe_repr(signal)}. "
            "Pass the sender as the second argument."
        )


def _sender_matches(event: SignalEvent, sender: object) -> bool:
    if sender is ANY:
        return True
    if sender is None:
        # sender_name is taken at send time; the weak sender alone cannot tell
        # None from a collected object.
        return event.sender_name == "None" and event.sender is None
    return naming.sender_matches(event, sender)


def _is_predicate(value: object) -> bool:
    # type() rather than isinstance(): a Mock(spec=function) claims to be one.
    return issubclass(
        type(value),
        (
            types.FunctionType,
            types.BuiltinFunctionType,
            types.MethodType,
            functools.partial,
        ),
    )


def _value_matches(expected: object, actual: object) -> bool:
    if actual is expected:
        return True
    if _is_predicate(expected):
        return bool(expected(actual))  # type: ignore[operator]
    # expected on the left, so that ANY and other matchers' __eq__ decide.
    return bool(expected == actual)


def _matching(
    sends: Sends, signal: object, sender: object, kwargs: Mapping[str, Any]
) -> list[SignalEvent]:
    _check_signal(signal)
    return [
        event
        for event in sends.events
        if naming.signal_matches(event, signal)
        and _sender_matches(event, sender)
        and all(
            key in event.kwargs and _value_matches(value, event.kwargs[key])
            for key, value in kwargs.items()
        )
    ]


def _first(events: Sequence[SignalEvent], signal: object, sender: object) -> int | None:
    for position, event in enumerate(events):
        if naming.signal_matches(event, signal) and _sender_matches(event, sender):
            return position
    return None


def _counted(sends: Sends, signal: object, sender: object) -> int:
    """How many only-counted sends (no kwargs kept) match signal and sender names."""
    if not sends.counts:
        return 0
    total = 0
    for (signal_name, sender_name), count in sends.counts.items():
        if isinstance(signal, str):
            signal_ok = naming.name_matches(signal_name, signal)
        else:
            signal_ok = signal_name == naming.signal_name(signal)  # type: ignore[arg-type]
        if sender is ANY:
            sender_ok = True
        elif isinstance(sender, str):
            sender_ok = (
                naming.name_matches(sender_name, sender) or sender_name == sender
            )
        else:
            sender_ok = sender_name == naming.sender_name(sender)
        if signal_ok and sender_ok:
            total += count
    return total


def _receiver_matches(call: ReceiverCall, receiver: object) -> bool:
    if isinstance(receiver, str):
        return naming.name_matches(call.name, receiver)
    actual = call.receiver
    if actual is None:  # collected, or never weakly referenceable: use the name
        return call.name == naming.receiver_name(receiver)
    if actual is receiver:
        return True
    if type(actual) is types.MethodType:
        if type(receiver) is types.MethodType:
            return actual.__func__ is receiver.__func__ and (
                actual.__self__ is receiver.__self__
            )
        return actual.__func__ is receiver
    return False


def _calls_of(sends: Sends, receiver: object) -> list[ReceiverCall]:
    return [
        call
        for event in sends.events
        for call in event.receivers
        if _receiver_matches(call, receiver)
    ]


def _order_item(item: object) -> tuple[object, object]:
    if isinstance(item, tuple):
        if len(item) != 2:
            raise TypeError(
                f"Expected a signal or a (signal, sender) pair, got {item!r}."
            )
        signal, sender = item
    else:
        signal, sender = item, ANY
    _check_signal(signal)
    return signal, sender


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a whole number >= 0, not {count!r}.")


# ------------------------------------------------------------------ messages


def _times(number: int, noun: str = "") -> str:
    if noun:
        return f"{number} {noun}" + ("" if number == 1 else "s")
    return {0: "0 times", 1: "once", 2: "twice"}.get(number, f"{number} times")


def _signal_label(signal: object) -> str:
    if isinstance(signal, Signal):
        return naming.signal_name(signal)
    return str(signal)


def _sender_label(sender: object) -> str:
    if isinstance(sender, str):
        return sender
    return naming.sender_name(sender)


def _receiver_label(receiver: object) -> str:
    if isinstance(receiver, str):
        return receiver
    return naming.callable_name(receiver)


def _order_label(signal: object, sender: object) -> str:
    label = _signal_label(signal)
    return label if sender is ANY else f"{label} from {_sender_label(sender)}"


def _expected_repr(name: str, value: object, config: Config) -> str:
    if is_hidden(name, config):
        return config.MASK
    if value is ANY:
        return "ANY"
    if _is_predicate(value):
        return f"<predicate {naming.callable_name(value)}>"
    return safe_repr(value, config)


def _describe(
    signal: object, sender: object, kwargs: Mapping[str, Any], config: Config
) -> str:
    text = _order_label(signal, sender)
    if kwargs:
        shown = ", ".join(
            f"{name}={_expected_repr(name, value, config)}"
            for name, value in kwargs.items()
        )
        text += f" with {shown}"
    return text


def _names_model_init(signal: object) -> bool:
    return _signal_label(signal).rpartition(".")[2] in _MODEL_INIT_NAMES


def _event_line(event: SignalEvent, config: Config) -> str:
    line = f"{event.name}  sender={event.sender_name}"
    if event.method != "send":
        line += f"  [{event.method}]"
    if event.kwargs:
        shown = ", ".join(
            f"{name}={value}"
            for name, value in safe_kwargs(event.kwargs, config).items()
        )
        line += f"  kwargs: {shown}"
    return line


def _receivers_line(event: SignalEvent, config: Config) -> str:
    if not event.receivers:
        return "receivers: none"
    names = []
    for call in event.receivers:
        if call.exception is not None:
            names.append(
                f"{call.name} (raised {format_exception(call.exception, config)})"
            )
        else:
            names.append(call.name)
    return "receivers: " + ", ".join(names)


def _listing(sends: Sends, *, signal: object = None) -> list[str]:
    """Return the numbered lines listing *sends* in a failure message.

    Sends of ``pre_init``/``post_init`` that reached no receiver (one pair per
    model instance created or fetched) are left out unless *signal* is one of
    them, and counted instead.
    """
    config = sends.config
    hide_noise = not _names_model_init(signal)
    events = sends.events
    shown = [
        (number, event)
        for number, event in enumerate(events, 1)
        if not (hide_noise and snapshot.is_noise(event))
    ]
    if not events:
        lines = [f"{sends.title}: none."]
    else:
        lines = [f"{sends.title} ({len(events)}):"]
    for number, event in shown[:MAX_LISTED]:
        prefix = f"  {number}. "
        lines.append(prefix + _event_line(event, config))
        lines.append(" " * len(prefix) + _receivers_line(event, config))
    if len(shown) > MAX_LISTED:
        lines.append(f"  ... and {len(shown) - MAX_LISTED} more")
    hidden = len(events) - len(shown)
    if hidden:
        lines.append(
            f"  ({_times(hidden, 'send')} of pre_init/post_init that reached no "
            "receiver not listed)"
        )
    if sends.dropped:
        lines.append(
            f"  ({_times(sends.dropped, 'send')} not recorded: MAX_EVENTS reached)"
        )
    return lines


def _counted_note(sends: Sends, signal: object, sender: object) -> str:
    counted = _counted(sends, signal, sender)
    if not counted:
        return ""
    return (
        f"Note: {_order_label(signal, sender)} was sent {_times(counted)} without "
        "reaching a receiver. Such sends are only counted, without their kwargs, "
        "unless the capture records them (record_unreceived=True, as "
        "capture_signals() and the signal_trace fixture do)."
    )


def _fail(
    message: str, sends: Sends, *, signal: object = None, note: str = ""
) -> NoReturn:
    __tracebackhide__ = True
    lines = [message, *_listing(sends, signal=signal)]
    if note:
        lines.append(note)
    raise AssertionError("\n".join(lines))
