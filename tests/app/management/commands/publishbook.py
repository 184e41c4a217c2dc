"""A project command that sends the project's own signal."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tests.app import receivers  # noqa: F401 - connects the receivers
from tests.app.models import Book
from tests.app.signals import book_published


class Command(BaseCommand):
    help = "Publish a book: sends tests.app.signals.book_published."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("title")
        parser.add_argument("--copies", type=int, default=1)
        parser.add_argument(
            "--robust", action="store_true", help="Send with send_robust()."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        send = book_published.send_robust if options["robust"] else book_published.send
        send(sender=Book, title=options["title"], copies=options["copies"])
        self.stdout.write(f"Published {options['title']!r}")
