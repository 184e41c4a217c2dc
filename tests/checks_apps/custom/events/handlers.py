"""Receivers in a subpackage, named "events.handlers" in EXTRA_RECEIVER_MODULES."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal, receiver

refund_failed = Signal()


@receiver(refund_failed)
def alert_support(sender: object, **kwargs: Any) -> None:
    raise AssertionError("tests must never import this module")
