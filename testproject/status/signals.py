"""The status page's signal: every app can plug in a health check."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent by the status view with ``sender=None``; each receiver returns a
#: :class:`status.checks.CheckResult`.
health_check = Signal()
