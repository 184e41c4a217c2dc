"""Receivers by decorator; never imported, so never connected."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal, receiver

invoice_paid = Signal()


@receiver(invoice_paid)
def thank_customer(sender: object, **kwargs: Any) -> None:
    raise AssertionError("tests must never import this module")
