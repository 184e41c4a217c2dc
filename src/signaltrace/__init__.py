"""See which Django signals fired, who received them, and how long each took.

::

    import signaltrace

    with signaltrace.capture() as trace:
        User.objects.create(username="ada")

    for event in trace.events:
        print(event.name, event.sender, [r.name for r in event.receivers])
"""

from __future__ import annotations

from signaltrace.recorder import capture
from signaltrace.trace import Location, ReceiverCall, SignalEvent, Trace

__all__ = ["Location", "ReceiverCall", "SignalEvent", "Trace", "capture"]
__version__ = "0.1.0"
