"""Receivers of the shop, connected in :meth:`ShopConfig.ready`."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache
from django.core.mail import send_mail
from django.db.models import F

from . import accounting
from .cache import product_page_key
from .models import Order, Payment, Product
from .signals import payment_completed

logger = logging.getLogger(__name__)

#: How long the warehouse takes to answer; long enough to be flagged as slow.
WAREHOUSE_LATENCY = 0.03


def take_payment(sender: type[Order], order: Order, **kwargs: Any) -> None:
    """Charge the order, then announce the payment: a signal sent from a receiver."""
    payment = Payment.objects.create(order=order, amount=order.total)
    order.status = Order.Status.PAID
    order.save(update_fields=["status"])
    # Robust: a listener that fails (accounting, below) must not undo a payment.
    payment_completed.send_robust(sender=Payment, payment=payment)


def reserve_stock(sender: type[Order], order: Order, **kwargs: Any) -> None:
    """Reserve the items, asking the warehouse first.

    Deliberately slow: the warehouse is called while the customer waits. The
    reports app (scenario 10) shows the better way, work deferred until after
    the commit.
    """
    time.sleep(WAREHOUSE_LATENCY)  # stands in for the warehouse's HTTP API
    reserved = Product.objects.filter(
        pk=order.product_id, stock__gte=order.quantity
    ).update(stock=F("stock") - order.quantity)
    if not reserved:
        logger.warning("Order %s: not enough stock, to be back-ordered", order.pk)


def email_receipt(sender: type[Payment], payment: Payment, **kwargs: Any) -> None:
    """Send the customer a receipt."""
    order = payment.order
    send_mail(
        subject=f"Your receipt for order {order.pk}",
        message=(
            f"We received {payment.amount} for {order.quantity} of "
            f"{order.product.name}."
        ),
        from_email=None,
        recipient_list=[order.email],
    )


def record_sale_in_accounting(
    sender: type[Payment], payment: Payment, **kwargs: Any
) -> None:
    """Book the sale; raises while the accounting service is down (always, here)."""
    accounting.record_sale(payment.order_id, payment.amount)


def clear_product_page(sender: type[Product], instance: Product, **kwargs: Any) -> None:
    """Drop the product's cached page, so that the next visit shows the change."""
    cache.delete(product_page_key(instance.pk))
