"""The shop's own signals."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent by :func:`shop.services.place_order` with ``sender=Order`` and ``order``
#: once the order is saved.
order_completed = Signal()

#: Sent with ``sender=Payment`` and ``payment`` once the customer has paid,
#: through ``send_robust``: a failing listener must not undo a payment.
payment_completed = Signal()
