"""Receivers imported by WiredConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal, receiver

parcel_shipped = Signal()


@receiver(parcel_shipped)
def notify_customer(sender: object, **kwargs: Any) -> None:
    pass
