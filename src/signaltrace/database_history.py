"""The ``"database"`` history store: traces that web and worker processes share.

``SIGNALTRACE = {"HISTORY_STORE": "database"}`` keeps each finished trace in
the ``signaltrace`` app's table (:class:`signaltrace.models.StoredTrace`,
``manage.py migrate`` creates it), so that a task's trace recorded in a worker
shows in the web process's viewer. The newest ``HISTORY_SIZE`` are kept,
across every process; ``HISTORY_MAX_BYTES`` bounds only the memory store.

Writing sends no model signal (rows are inserted with ``bulk_create`` and
deleted in SQL, never through ``delete()``, which sends ``pre_delete`` to any
receiver connected for all models), so keeping a trace never shows in one.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, router, transaction

from signaltrace.history import HistoryEntry

__all__ = ["DatabaseHistory"]


class DatabaseHistory:
    """A history store in the database (see the module documentation)."""

    blocking = True

    def add(
        self,
        entry: HistoryEntry,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        """Keep *entry*, then drop all but the newest *size* entries."""
        from signaltrace.models import StoredTrace

        data = entry.to_dict()
        summary = {key: value for key, value in data.items() if key != "trace"}
        row = StoredTrace(
            id=entry.id,
            kind=entry.kind,
            label=entry.label[:300],
            task_id=entry.task_id or "",
            redirected_from=entry.redirected_from or "",
            summary=json.dumps(summary),
            entry=json.dumps(data),
            stored_at=time.time(),
        )
        using = router.db_for_write(StoredTrace) or DEFAULT_DB_ALIAS
        with transaction.atomic(using=using):
            _delete(using, "id = %s", entry.id)
            StoredTrace.objects.using(using).bulk_create([row])
            if size is not None:
                newest_dropped = (
                    StoredTrace.objects.using(using)
                    .order_by("-stored_at")
                    .values_list("stored_at", flat=True)[size : size + 1]
                    .first()
                )
                if newest_dropped is not None:
                    _delete(using, "stored_at <= %s", newest_dropped)

    def get(self, entry_id: str) -> HistoryEntry | None:
        """The entry with this id, its trace read with it."""
        return self._first(pk=entry_id)

    def entries(self, kind: str | None = None) -> list[HistoryEntry]:
        """The kept entries (of one *kind*), newest first; traces read when needed."""
        from signaltrace.models import StoredTrace

        rows = StoredTrace.objects.only("id", "summary")
        if kind is not None:
            rows = rows.filter(kind=kind)
        return [
            HistoryEntry.from_dict(json.loads(row.summary), load=_loader(row.pk))
            for row in rows
        ]

    def for_task(self, task_id: str) -> HistoryEntry | None:
        """The newest trace of the task with this id, if kept."""
        return self._first(task_id=task_id)

    def redirected_from(self, entry_id: str) -> HistoryEntry | None:
        """The request a redirect of the entry *entry_id* led to, if kept."""
        return self._first(redirected_from=entry_id)

    def clear(self) -> None:
        """Forget every entry."""
        from signaltrace.models import StoredTrace

        _delete(router.db_for_write(StoredTrace) or DEFAULT_DB_ALIAS, "1 = 1")

    def _first(self, **lookup: Any) -> HistoryEntry | None:
        from signaltrace.models import StoredTrace

        row = StoredTrace.objects.filter(**lookup).only("id", "entry").first()
        if row is None:
            return None
        return HistoryEntry.from_dict(json.loads(row.entry))


def _delete(using: str, where: str, *params: object) -> None:
    """Delete rows in SQL: no ``pre_delete``/``post_delete`` for anyone to receive."""
    from signaltrace.models import StoredTrace

    connection = connections[using]
    table = connection.ops.quote_name(StoredTrace._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {where}", params)


def _loader(entry_id: str) -> Any:
    def load() -> dict[str, Any]:
        from signaltrace.models import StoredTrace

        entry = StoredTrace.objects.filter(pk=entry_id).values_list("entry", flat=True)
        found = entry.first()
        if found is None:
            raise LookupError(f"The trace {entry_id} has left the history.")
        trace: dict[str, Any] = json.loads(found)["trace"]
        return trace

    return load
