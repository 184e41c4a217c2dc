"""The ``"database"`` history store's table (see :mod:`signaltrace.database_history`).

Created by the ``signaltrace`` app's migration; used only when
``SIGNALTRACE["HISTORY_STORE"]`` is ``"database"``.
"""

from __future__ import annotations

from django.db import models

__all__ = ["StoredTrace"]


class StoredTrace(models.Model):
    """One finished request, command or task and its trace, shared by processes.

    The columns are what the viewer's list shows and looks up by; ``entry``
    is the whole :meth:`signaltrace.history.HistoryEntry.to_dict`, JSON text,
    read only for a trace's own page.
    """

    id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=32)
    kind: models.CharField[str, str] = models.CharField(max_length=16, db_index=True)
    #: A request's method and path, or a command's or task's name.
    label: models.CharField[str, str] = models.CharField(max_length=300)
    task_id: models.CharField[str, str] = models.CharField(
        max_length=255, blank=True, db_index=True
    )
    redirected_from: models.CharField[str, str] = models.CharField(
        max_length=32, blank=True, db_index=True
    )
    #: The figures a list shows (HistoryEntry.summary()), without the trace.
    summary: models.TextField[str, str] = models.TextField()
    entry: models.TextField[str, str] = models.TextField()
    #: Increasing: the newest HISTORY_SIZE are kept.
    stored_at: models.FloatField[float, float] = models.FloatField(db_index=True)

    class Meta:
        verbose_name = "stored signal trace"
        ordering = ("-stored_at",)

    def __str__(self) -> str:
        return f"{self.kind} {self.label}"
