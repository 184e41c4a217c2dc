from __future__ import annotations

from django.dispatch import Signal

#: The signal the receivers below listen to.
order_placed = Signal()
