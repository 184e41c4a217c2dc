"""Sales reports, built in the background."""

from __future__ import annotations

from django.db import models


class Report(models.Model):
    """A sales report, requested by a visitor and filled in after the commit.

    See :func:`reports.building.build_report`.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DONE = "done", "done"

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    built_at = models.DateTimeField(null=True, blank=True)
    orders = models.PositiveIntegerField(default=0)
    items = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        ordering = ["-requested_at", "-pk"]

    def __str__(self) -> str:
        return f"Sales report {self.pk} ({self.status})"
