"""A receivers module the tests load a second time, under another name."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from tests.checks_apps.duplicated.signals import order_placed


@receiver(order_placed)
def reserve_stock(sender: object, **kwargs: Any) -> None:
    pass
