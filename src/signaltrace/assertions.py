"""Assertions on captured signals, and the trace that offers them.

:class:`TraceAssertions` gives the ``assert_*`` methods to
:class:`SignalTrace`, the trace every capture hands out (a
:class:`~signaltrace.trace.Trace` of the data model, with its findings and
these methods), and to :class:`EventList`, what ``SignalTrace.filter()``
returns, so that the same checks read naturally on a whole capture or on a
part of it::

    trace.assert_sent(post_save, sender=User, created=True)
    trace.filter(sender=Order).assert_order(pre_save, post_save)

The data model knows nothing of this module: assertions are built on it.

Failures raise :class:`AssertionError` (pytest, unittest and plain scripts all
report it) with a message in the style of pytest-django's
``django_assert_num_queries``: what was expected, then the sends that did
happen, numbered and short, with the values described at the sends (masked
and cut).

Matching is :meth:`SignalEvent.matches <signaltrace.trace.SignalEvent.matches>`,
the one rule ``Trace.filter()`` and the command's filters follow too:

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
  On a trace that kept only descriptions (a request's), an expected value is
  compared with the description of the sent one, and predicates are refused.

A signal given by name must exist: a name that matches no signal of the
process (none bound to a loaded module's globals, none in the trace) fails
``assert_sent``, ``assert_sent_once``, ``assert_not_sent`` and
``assert_order`` alike, saying so and suggesting the closest names (see
:func:`signaltrace.receivers.unknown_signal`); a typo never passes as "not
sent". A name that exists but was not sent gets the usual messages. A sender
given by name is checked the same way when an assertion fails anyway (see
:func:`signaltrace.receivers.unknown_sender`); ``assert_not_sent`` does not
check it, since a string sender that was never sent cannot be told from a
typo.

When ``assert_sent`` finds no matching send but the signal was sent, the
message lists those sends first, each with what differed: the sender, and
each expected keyword argument that did not match, expected against sent.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, NoReturn, overload
from unittest.mock import ANY

from django.dispatch import Signal

from signaltrace import insights, naming, snapshot
from signaltrace.conf import DEFAULTS, Config
from signaltrace.receivers import unknown_sender, unknown_signal
from signaltrace.render import TextOptions, TextTree, value_text
from signaltrace.trace import (
    Finding,
    ReceiverCall,
    SignalEvent,
    Trace,
    events_to_dicts,
    is_predicate,
)
from signaltrace.values import Describer, describer

__all__ = ["ANY", "MAX_LISTED", "EventList", "SignalTrace", "TraceAssertions"]

#: Most sends listed in a failure message; the rest are counted.
MAX_LISTED = 20

_MODEL_INIT_NAMES = frozenset({"pre_init", "post_init"})
_LISTING = TextOptions(durations=False, kwargs="labelled", always_method=False)


@dataclass(frozen=True)
class Sends:
    """What the assertions look at, as given by a SignalTrace or an EventList.

    Attributes:
        events: the recorded sends, in start order.
        describer: describes expected values (the trace's settings).
        counts: sends that reached no receiver and were only counted, keyed by
            ``(signal name, sender name)``.
        dropped: sends not stored because ``MAX_EVENTS`` was reached.
        title: how a failure message introduces the listing of ``events``.
    """

    events: Sequence[SignalEvent]
    describer: Describer
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
        """The findings of the events checked (a SignalTrace keeps its own)."""
        sends = self._sends()
        return insights.find(sends.events, sends.describer.config)

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

        A *signal* name that no signal of the process has fails, suggesting
        the closest names; when the signal was sent but no send matched, the
        failure lists its sends with what differed (see the module
        documentation).
        """
        __tracebackhide__ = True
        sends = self._sends()
        matches = _matching(sends, signal, sender, kwargs)
        if count is not None:
            _check_count(count)
        if matches and count is None:
            return matches[0]
        if matches and len(matches) == count:
            return EventList(matches, sends.describer.config)
        expected = f"Expected {_describe(signal, sender, kwargs, sends)} to be sent"
        if count is not None:
            expected += f" {_times(count)}"
        note = _counted_note(sends, signal, sender)
        if matches:
            happened = f"it was sent {_times(len(matches))}."
            _fail(f"{expected}, but {happened}", sends, signal=signal, note=note)
        _check_signal_exists(sends, signal, expected)
        if count == 0:
            return EventList([], sends.describer.config)
        _check_sender_exists(sends, sender, expected)
        happened = "it was not sent." if count is None else "it was sent 0 times."
        _fail(
            f"{expected}, but {happened}",
            sends,
            signal=signal,
            first=_near_misses(sends, signal, sender, kwargs),
            note=note,
        )

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
        described = _describe(signal, sender, kwargs, sends)
        if not matches and not counted:
            _check_signal_exists(sends, signal, f"Expected {described} not to be sent")
            return
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
        labels = [_order_label(signal, sender, sends) for signal, sender in wanted]
        if len(set(labels)) != len(labels):
            raise ValueError(f"assert_order() got a signal twice: {', '.join(labels)}.")
        expected = f"Expected the first sends of {', '.join(labels)} in that order"
        positions: list[int] = []
        for (signal, sender), label in zip(wanted, labels, strict=True):
            position = _first(sends, signal, sender)
            if position is None:
                _check_signal_exists(sends, signal, expected)
                _check_sender_exists(sends, sender, expected)
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
        return EventList([sends.events[p] for p in positions], sends.describer.config)

    # ---------------------------------------------------------------- errors

    def assert_no_errors(self) -> None:
        """Assert that no receiver raised, counting errors ``send_robust`` caught."""
        __tracebackhide__ = True
        sends = self._sends()
        failed = [
            (number, event, call)
            for number, event in enumerate(sends.events, 1)
            for call in event.receivers
            if call.error is not None
        ]
        if not failed:
            return
        lines = [
            f"Expected no receiver to raise, but {_times(len(failed), 'call')} did:"
        ]
        for number, event, call in failed[:MAX_LISTED]:
            prefix = f"  {number}. "
            lines.append(prefix + _event_line(event))
            caught = (
                " (send_robust caught it)" if event.method.endswith("robust") else ""
            )
            lines.append(f"{' ' * len(prefix)}{call.name} raised {call.error}{caught}")
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
            where = f" (send {finding.event + 1})" if finding.event is not None else ""
            lines.append(f"  {finding.code}{where}: {finding.message}")
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
        text = snapshot.render(sends.events, dropped=sends.dropped)
        snapshot.assert_matches(text, path)


class EventList(list[SignalEvent], TraceAssertions):
    """A list of events that answers the same assertions as a trace.

    ``SignalTrace.filter()`` returns one, so a check can be narrowed first::

        trace.filter(sender=Order).assert_order(pre_save, post_save)
    """

    def __init__(
        self, events: Iterable[SignalEvent] = (), config: Config = DEFAULTS
    ) -> None:
        super().__init__(events)
        #: The settings used to describe expected values in comparisons and
        #: failure messages.
        self.config = config

    def _sends(self) -> Sends:
        return Sends(self, describer(self.config), {}, 0, "Sends in this list")


class SignalTrace(Trace, TraceAssertions):
    """The trace every capture hands out: the data of a :class:`~signaltrace.Trace`,
    its findings, and the ``assert_*`` methods.

    ``signaltrace.capture()``, the ``signal_trace`` fixture,
    ``capture_signals()``, the TestCase mixin and ``request.signal_trace``
    all give one.
    """

    def __init__(self, config: Config, *, keep_values: bool = False) -> None:
        super().__init__(config, keep_values=keep_values)
        # The findings, once computed on an ended trace (which no longer changes).
        self._ended_findings: list[Finding] | None = None

    @property
    def findings(self) -> list[Finding]:
        """The pitfalls found in this trace (see :mod:`signaltrace.insights`).

        Computed when first read, and kept once the trace has ended.
        """
        if self._ended_findings is not None:
            return self._ended_findings
        found = insights.find(self)
        if self.ended_at is not None:
            self._ended_findings = found
        return found

    def filter(
        self, signal: object = None, sender: object = ANY, **kwargs: Any
    ) -> EventList:
        """The events matching all the given criteria, in start order.

        As :meth:`Trace.filter <signaltrace.trace.Trace.filter>`; the result
        is a list that also has the ``assert_*`` methods.
        """
        return EventList(super().filter(signal, sender, **kwargs), self.config)

    def _sends(self) -> Sends:
        return Sends(
            self.events,
            self.describer,
            self.counts,
            self.dropped,
            "Sends that happened",
        )

    def _findings(self) -> list[Finding]:
        return self.findings


# ------------------------------------------------------------------ matching


def _check_signal(signal: object) -> None:
    if not isinstance(signal, str | Signal):
        raise TypeError(
            f"Expected a Signal or a dotted name, got "
            f"{describer(DEFAULTS).text(signal)}. Pass the sender as the second "
            "argument."
        )


def _matching(
    sends: Sends, signal: object, sender: object, kwargs: Mapping[str, Any]
) -> list[SignalEvent]:
    _check_signal(signal)
    return [
        event
        for event in sends.events
        if event.matches(signal, sender, kwargs, describer=sends.describer)
    ]


def _first(sends: Sends, signal: object, sender: object) -> int | None:
    for position, event in enumerate(sends.events):
        if event.matches(signal, sender, describer=sends.describer):
            return position
    return None


def _check_signal_exists(sends: Sends, signal: object, expected: str) -> None:
    """Fail when *signal* is a name that no signal of the process has.

    *expected* begins the message: ``"Expected order_complete to be sent"``.
    """
    __tracebackhide__ = True
    seen = {signal_name for signal_name, _sender in sends.counts}
    seen.update(event.name for event in sends.events)
    _check_known(signal, seen, unknown_signal, expected)


def _check_sender_exists(sends: Sends, sender: object, expected: str) -> None:
    """Fail when *sender* is a name that no known sender has (see the module doc)."""
    __tracebackhide__ = True
    seen = {sender_name for _signal, sender_name in sends.counts}
    seen.update(event.sender_name for event in sends.events)
    _check_known(sender, seen, unknown_sender, expected)


def _check_known(
    name: object,
    seen: set[str],
    unknown: Callable[[str, Iterable[str]], str | None],
    expected: str,
) -> None:
    """Fail when *name*, a string, is unknown (*unknown* says why), else pass."""
    __tracebackhide__ = True
    if not isinstance(name, str):
        return
    reason = unknown(name, seen)
    if reason is not None:
        raise AssertionError(f"{expected}, but {reason}")


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
            sender_ok = naming.sender_name_matches(sender_name, sender)
        else:
            sender_ok = sender_name == sends.describer.sender(sender)
        if signal_ok and sender_ok:
            total += count
    return total


def _receiver_matches(call: ReceiverCall, receiver: object) -> bool:
    if isinstance(receiver, str):
        return naming.name_matches(call.name, receiver)
    actual = call.receiver
    if actual is None:  # not kept, or collected since: use the name
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


def _sender_label(sender: object, sends: Sends) -> str:
    if isinstance(sender, str):
        return sender
    return sends.describer.sender(sender)


def _receiver_label(receiver: object) -> str:
    if isinstance(receiver, str):
        return receiver
    return naming.callable_name(receiver)


def _order_label(signal: object, sender: object, sends: Sends) -> str:
    label = _signal_label(signal)
    return label if sender is ANY else f"{label} from {_sender_label(sender, sends)}"


def _expected_text(name: str, value: object, describer: Describer) -> str:
    if describer.is_hidden(name):
        return describer.mask
    if value is ANY:
        return "ANY"
    if is_predicate(value):
        return f"<predicate {naming.callable_name(value)}>"
    return value_text(describer.describe(value))


def _describe(
    signal: object, sender: object, kwargs: Mapping[str, Any], sends: Sends
) -> str:
    text = _order_label(signal, sender, sends)
    if kwargs:
        shown = ", ".join(
            f"{name}={_expected_text(name, value, sends.describer)}"
            for name, value in kwargs.items()
        )
        text += f" with {shown}"
    return text


def _names_model_init(signal: object) -> bool:
    return _signal_label(signal).rpartition(".")[2] in _MODEL_INIT_NAMES


def _event_line(event: SignalEvent) -> str:
    """A send as the text tree names it, with its keyword arguments."""
    (data,) = events_to_dicts([event], 0.0)
    return TextTree([data], _LISTING).head(data)


def _receivers_line(event: SignalEvent) -> str:
    names = [
        f"{call.name} (raised {call.error})" if call.error is not None else call.name
        for call in event.receivers
    ]
    return "receivers: " + ", ".join(names)


def _listing(sends: Sends, *, signal: object = None) -> list[str]:
    """The numbered lines listing *sends* in a failure message.

    Sends of ``pre_init``/``post_init`` that reached no receiver (one pair per
    model instance created or fetched) are left out unless *signal* is one of
    them, and counted instead.
    """
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
        lines.append(prefix + _event_line(event))
        if event.receivers:
            lines.append(" " * len(prefix) + _receivers_line(event))
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


def _near_misses(
    sends: Sends, signal: object, sender: object, kwargs: Mapping[str, Any]
) -> list[str]:
    """The sends of *signal*, numbered, each with what differed from the expected.

    Empty when *signal* was not sent (or when only the signal was expected).
    """
    if sender is ANY and not kwargs:
        return []
    sent = [
        (number, event)
        for number, event in enumerate(sends.events, 1)
        if event.matches(signal, describer=sends.describer)
    ]
    if not sent:
        return []
    lines = [f"Sends of {_signal_label(signal)}, and what differed ({len(sent)}):"]
    for number, event in sent[:MAX_LISTED]:
        prefix = f"  {number}. "
        differences = _differences(event, sender, kwargs, sends)
        lines.append(prefix + differences[0])
        lines.extend(" " * len(prefix) + line for line in differences[1:])
    if len(sent) > MAX_LISTED:
        lines.append(f"  ... and {len(sent) - MAX_LISTED} more")
    return lines


def _differences(
    event: SignalEvent, sender: object, kwargs: Mapping[str, Any], sends: Sends
) -> list[str]:
    """What of *sender* and *kwargs* *event* did not match, one line each."""
    describer = sends.describer
    found = []
    if sender is not ANY and not event.matches(sender=sender, describer=describer):
        found.append(
            f"sender: expected {_sender_label(sender, sends)}, "
            f"sent {value_text(event.sender_name)}"
        )
    for name, value in kwargs.items():
        expected = _expected_text(name, value, describer)
        if name not in event.kwargs:
            found.append(f"{name}: expected {expected}, not sent")
        elif describer.is_hidden(name):
            if not event.value_matches(name, value, describer):
                found.append(f"{name}: differs (the values are masked)")
        elif not event.value_matches(name, value, describer):
            sent = value_text(event.kwargs[name])
            if sent == expected:  # 1 and "1", say: show their types
                expected, sent = _typed_texts(event, name, value, describer)
            if sent == expected:
                sent = "a value that shows the same but is not equal"
            found.append(f"{name}: expected {expected}, sent {sent}")
    return found or ["(it matches now)"]


def _typed_texts(
    event: SignalEvent, name: str, value: object, describer: Describer
) -> tuple[str, str]:
    """Expected and sent values as Python shows them, strings quoted."""
    live = event.live_kwargs
    sent = describer.text(live[name]) if live is not None else repr(event.kwargs[name])
    return describer.text(value), sent


def _counted_note(sends: Sends, signal: object, sender: object) -> str:
    counted = _counted(sends, signal, sender)
    if not counted:
        return ""
    return (
        f"Note: {_order_label(signal, sender, sends)} was sent {_times(counted)} "
        "without reaching a receiver. Such sends are only counted, without their "
        "kwargs, unless the capture records them (record_unreceived=True, as "
        "capture_signals() and the signal_trace fixture do)."
    )


def _fail(
    message: str,
    sends: Sends,
    *,
    signal: object = None,
    first: Sequence[str] = (),
    note: str = "",
) -> NoReturn:
    """Raise AssertionError: *message*, the *first* lines, the sends, the *note*."""
    __tracebackhide__ = True
    lines = [message, *first, *_listing(sends, signal=signal)]
    if note:
        lines.append(note)
    raise AssertionError("\n".join(lines))
