"""Receivers connected by call; never imported, so never connected."""

from __future__ import annotations

from typing import Any

from tests.checks_apps.forgotten.signals import invoice_paid


def archive_invoice(sender: object, **kwargs: Any) -> None:
    raise AssertionError("tests must never import this module")


invoice_paid.connect(archive_invoice)
