"""What the tasks do, whichever framework runs them: Django's signals fire."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from tests.app.models import Author

#: Sent by :func:`file_author`, received by :func:`welcome`.
author_filed = Signal()
#: Sent many times by :func:`chatter`.
chatted = Signal()

#: Who was welcomed, in order (in the process that ran the task).
welcomed: list[str] = []


def welcome(sender: object, name: str, **kwargs: Any) -> str:
    welcomed.append(name)
    return f"welcome {name}"


def listen(sender: object, **kwargs: Any) -> None:
    pass


author_filed.connect(welcome, dispatch_uid="tests.tasks_app.welcome")
chatted.connect(listen, dispatch_uid="tests.tasks_app.listen")


class LedgerClosed(Exception):
    """What a failing task raises."""


def file_author(name: str) -> int:
    """Create an author (``post_save``) and announce it (``author_filed``)."""
    author = Author.objects.create(name=name)
    author_filed.send(sender=Author, name=name)
    return author.pk


def fail(name: str) -> None:
    """Announce, then raise."""
    author_filed.send(sender=Author, name=name)
    raise LedgerClosed(f"cannot file {name}")


def chatter(times: int) -> None:
    """Send ``chatted`` *times* times."""
    for _ in range(times):
        chatted.send(sender=None)
