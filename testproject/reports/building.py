"""The heavy work: adding up every order. Never run inside a receiver."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from shop.models import Order

from .models import Report


def build_report(report_id: int) -> None:
    """Fill in a pending report from all the orders so far."""
    totals = Order.objects.aggregate(
        orders=Count("pk"), items=Sum("quantity"), revenue=Sum("total")
    )
    report = Report.objects.get(pk=report_id)
    report.orders = totals["orders"]
    report.items = totals["items"] or 0
    report.revenue = totals["revenue"] or Decimal(0)
    report.status = Report.Status.DONE
    report.built_at = timezone.now()
    report.save()
