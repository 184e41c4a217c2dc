"""What the recorder writes: one plain list per send and per receiver call.

The recorder runs at every send, inside the traced program; building a list
costs a fraction of building an object with as many attributes, and the
difference is most of what a recorded send costs. So the recorder fills
records laid out as below, and :class:`~signaltrace.trace.SignalEvent` and
:class:`~signaltrace.trace.ReceiverCall` are read-only views of them, built
when first read (see :func:`~signaltrace.trace.send_view`). Only the
recorder, the query tracker and the views use these positions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CallRecord", "SendRecord", "new_call"]

#: A send: ``[signal, sender reference, sender name, kwargs, method,
#: started_at, start, duration, calls, where, parent call, exception, stack,
#: running call, dispatched, looked-up receivers, untimed, view]``.
SendRecord = list[Any]
#: A receiver call: ``[send, name, receiver reference, is_async, started_at,
#: duration, response, exception, children, query stats, view]``.
CallRecord = list[Any]

SEND_SIGNAL = 0
#: A callable giving back the sender (weak where possible), or None for None.
SEND_SENDER_REF = 1
#: The sender's name, taken at the send when the sender is held weakly; else None.
SEND_SENDER_NAME = 2
SEND_KWARGS = 3
SEND_METHOD = 4
SEND_STARTED_AT = 5
SEND_START = 6
SEND_DURATION = 7
#: The call records of the receivers called, in call order.
SEND_CALLS = 8
#: ``(code, last instruction)`` of the frame the send came from, or None.
SEND_WHERE = 9
#: The call record of the receiver that made this send, or None.
SEND_PARENT = 10
SEND_EXCEPTION = 11
SEND_STACK = 12
#: Bookkeeping while the send runs: the sync receiver call in progress;
#: whether Django's dispatch asked for the receivers yet; the receivers the
#: wrapper already looked up; whether the calls could not be timed and are
#: to be recorded from the responses.
SEND_RUNNING = 13
SEND_DISPATCHED = 14
SEND_LIVE = 15
SEND_UNTIMED = 16
#: The SignalEvent of this record, once built.
SEND_VIEW = 17

CALL_SEND = 0
CALL_NAME = 1
#: A callable giving back the receiver (weak where possible), or None.
CALL_REF = 2
CALL_IS_ASYNC = 3
CALL_STARTED_AT = 4
CALL_DURATION = 5
CALL_RESPONSE = 6
CALL_EXCEPTION = 7
#: The send records made from inside the call, or None before the first.
CALL_CHILDREN = 8
#: The QueryStats of the queries the call ran, or None before the first.
CALL_QUERIES = 9
#: The ReceiverCall of this record, once built.
CALL_VIEW = 10


def new_call(send: SendRecord, name: str, ref: Any, is_async: bool) -> CallRecord:
    """A call record for a receiver about to be called (off the hottest path)."""
    return [send, name, ref, is_async, 0.0, 0.0, None, None, None, None, None]
