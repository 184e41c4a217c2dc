"""See which Django signals fired, who received them, and how long each took.

::

    import signaltrace

    with signaltrace.capture() as trace:
        User.objects.create(username="ada")

    for event in trace.events:
        print(event.name, event.sender_name, [r.name for r in event.receivers])

The names below are imported on first use: the pytest plugin imports this
package in every project that has it installed, and should not pay for
loading Django's ORM there.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signaltrace.assertions import SignalTrace
    from signaltrace.capturing import capture
    from signaltrace.trace import Location, ReceiverCall, SignalEvent, Trace

__all__ = [
    "Location",
    "ReceiverCall",
    "SignalEvent",
    "SignalTrace",
    "Trace",
    "capture",
]
__version__ = "0.1.0"

_LAZY = {
    "capture": "signaltrace.capturing",
    "Location": "signaltrace.trace",
    "ReceiverCall": "signaltrace.trace",
    "SignalEvent": "signaltrace.trace",
    "SignalTrace": "signaltrace.assertions",
    "Trace": "signaltrace.trace",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'signaltrace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
