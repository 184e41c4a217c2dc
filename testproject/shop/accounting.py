"""The client of the accounting service, which the demo does not have.

Every call fails, the way a remote service fails when it is down: this is
what ``payment_completed``'s ``send_robust`` protects the checkout from, and
what signaltrace shows even though Django swallowed it.
"""

from __future__ import annotations

from decimal import Decimal


class AccountingUnavailable(ConnectionError):
    """The accounting service could not be reached."""


def record_sale(order_id: int, amount: Decimal) -> None:
    """Book a sale in the accounting service."""
    raise AccountingUnavailable(
        f"accounting service unreachable: order {order_id} ({amount}) not booked"
    )
