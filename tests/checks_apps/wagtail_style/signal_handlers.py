"""Receivers in Wagtail's signal_handlers.py; never imported, so never connected."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal, receiver

page_published = Signal()


@receiver(page_published)
def purge_cache(sender: object, **kwargs: Any) -> None:
    raise AssertionError("tests must never import this module")
