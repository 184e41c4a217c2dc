"""The shop: custom signals, nesting, a slow and a failing receiver, a cache.

Scenarios 6 and 7.
"""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """Connects the receivers of :mod:`shop.receivers`."""

    name = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from . import receivers
        from .models import Order, Payment, Product
        from .signals import order_completed, payment_completed

        order_completed.connect(receivers.take_payment, sender=Order)
        order_completed.connect(receivers.reserve_stock, sender=Order)
        payment_completed.connect(receivers.email_receipt, sender=Payment)
        payment_completed.connect(receivers.record_sale_in_accounting, sender=Payment)
        post_save.connect(receivers.clear_product_page, sender=Product)
