"""Recording never fails the program: what happens when signaltrace's own code fails.

Every stage of recording a send (describing it, locating it, naming a
receiver, recording an outcome, counting a query, closing the record) is
contained: the send goes on exactly as Django's would, the failure is noted
in the traces recording (``Trace.recording_errors``, a ``recording-error``
finding), and the ``signaltrace`` logger reports each kind of failure once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable

from signaltrace.trace import Trace

__all__ = ["note"]

logger = logging.getLogger("signaltrace")

#: (stage, exception class) already logged: the log reports each kind once.
_logged: set[tuple[str, type[BaseException]]] = set()
_lock = threading.Lock()


def note(traces: Iterable[Trace], stage: str, error: BaseException) -> None:
    """signaltrace's own code failed at *stage*: note it in *traces*, log it once.

    Never raises: it is called from inside the traced program's sends.
    """
    with contextlib.suppress(Exception):
        text = f"{stage}: {_error_text(error)}"
        for trace in traces:
            trace.note_recording_error(text)
    key = (stage, type(error))
    with _lock:
        if key in _logged:
            return
        _logged.add(key)
    with contextlib.suppress(Exception):
        logger.error(
            "signaltrace failed while %s; the program went on untouched",
            stage,
            exc_info=error,
        )


def _error_text(error: BaseException) -> str:
    """``Class: message``, without relying on anything that may have failed."""
    name = type(error).__qualname__
    try:
        message = str(error)
    except Exception:
        return name
    return f"{name}: {message[:300]}" if message else name
