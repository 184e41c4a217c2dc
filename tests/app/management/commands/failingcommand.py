"""A project command that sends a signal and then fails, in one of three ways."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tests.app import receivers  # noqa: F401 - connects the receivers
from tests.app.models import Book
from tests.app.signals import book_published


class Command(BaseCommand):
    help = "Send book_published, then fail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--how",
            choices=["command-error", "exception", "exit"],
            default="command-error",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        book_published.send(sender=Book, title="Doomed", copies=1)
        self.stdout.write("About to fail")
        if options["how"] == "exception":
            raise RuntimeError("the press broke down")
        if options["how"] == "exit":
            sys.exit(4)
        raise CommandError("the press is on fire", returncode=3)
