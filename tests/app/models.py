"""Models for the test suite."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:  # pragma: no cover - tracing must never call this
        raise AssertionError("signaltrace called Author.__str__")


class Book(models.Model):
    title = models.CharField(max_length=100)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    readers = models.ManyToManyField(Author, related_name="read_books", blank=True)

    def __str__(self) -> str:
        # Deliberately queries, the way many real __str__ methods do.
        return f"{self.title} by {self.author.name}"
