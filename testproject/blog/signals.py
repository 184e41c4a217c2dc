"""The blog's own signals."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent by the like view with ``sender=Post``, ``post`` (the Post) and ``user``
#: (the reader, or None when anonymous).
post_liked = Signal()
