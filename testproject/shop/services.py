"""What the shop does, callable from its views and from the JSON API."""

from __future__ import annotations

from django.db import transaction

from .models import Order, Product
from .signals import order_completed


def place_order(product: Product, quantity: int, email: str) -> Order:
    """Save an order and announce it through :data:`shop.signals.order_completed`.

    The receivers take the payment and reserve the stock; they run inside the
    same transaction as the order, so an error in them cancels the order.
    """
    with transaction.atomic():
        order = Order.objects.create(
            product=product,
            quantity=quantity,
            total=product.price * quantity,
            email=email,
        )
        order_completed.send(sender=Order, order=order)
    return order
