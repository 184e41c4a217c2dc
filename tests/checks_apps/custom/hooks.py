"""Receivers in a module of the project's own naming, found through the
EXTRA_RECEIVER_MODULES setting; never imported, so never connected.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal, receiver

refund_issued = Signal()


@receiver(refund_issued)
def reverse_points(sender: object, **kwargs: Any) -> None:
    raise AssertionError("tests must never import this module")
