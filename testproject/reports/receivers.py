"""Receivers of the reports app, connected in :meth:`ReportsConfig.ready`."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from .background import enqueue_build
from .models import Report


def schedule_build(
    sender: type[Report],
    instance: Report,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    """Schedule the build of a new report, once its row is committed.

    The receiver itself returns at once: the slow work runs after the commit
    (a worker could not see an uncommitted row), the pattern Django's signals
    documentation recommends over slow receivers.
    """
    if created and not raw:
        transaction.on_commit(partial(enqueue_build, instance.pk))
