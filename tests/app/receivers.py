"""Receivers of the test app's signals, one of each kind ``--receivers`` describes.

Imported by the test app's commands, the way a project imports its receivers
in ``AppConfig.ready()``.
"""

from __future__ import annotations

import functools
from typing import Any

from tests.app.models import Book
from tests.app.signals import book_announced, book_published

#: What the receivers saw, in order.
announcements: list[str] = []


def announce(sender: object, title: str, **kwargs: Any) -> None:
    """Limited to one sender, with a dispatch_uid; sends another signal."""
    book_announced.send(sender=sender, title=title)


def reject_untitled(sender: object, title: str, **kwargs: Any) -> None:
    """Raises for an empty title, to show receiver errors."""
    if not title:
        raise ValueError("a book needs a title")


def log_announcement(sender: object, title: str, **kwargs: Any) -> str:
    announcements.append(title)
    return f"announced {title}"


def record(log: list[str], sender: object, **kwargs: Any) -> None:
    log.append(kwargs["title"])


class Ledger:
    """A callable object used as a receiver."""

    def __init__(self) -> None:
        self.titles: list[str] = []

    def __call__(self, sender: object, title: str, **kwargs: Any) -> None:
        self.titles.append(title)


ledger = Ledger()
recorded: list[str] = []

book_published.connect(announce, sender=Book, dispatch_uid="announce-book")
book_published.connect(reject_untitled)
book_published.connect(functools.partial(record, recorded), weak=False)
book_published.connect(ledger)
book_announced.connect(log_announcement)
