"""Signals of the test app, as a project would define its own."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent by the ``publishbook`` command for each book it publishes.
book_published = Signal()
#: Sent by the ``announce`` receiver of ``book_published``: a nested send.
book_announced = Signal()
#: Never sent: tests connect receivers to it and only list them.
book_archived = Signal()
