"""Receivers of the blog, connected in :meth:`BlogConfig.ready`."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import F

from .models import Post

logger = logging.getLogger(__name__)


def capitalize_title(sender: type[Post], instance: Post, **kwargs: Any) -> None:
    """Start every title with a capital letter, whoever saves the post."""
    instance.title = instance.title[:1].upper() + instance.title[1:]


def count_like(
    sender: type[Post], post: Post, user: AbstractBaseUser | None, **kwargs: Any
) -> None:
    """Add the like in the database (an UPDATE: no post_save, no lost likes)."""
    Post.objects.filter(pk=post.pk).update(likes=F("likes") + 1)


def log_deletion(sender: type[Post], instance: Post, **kwargs: Any) -> None:
    """Log a post about to be deleted, while its row still exists."""
    logger.info("Deleting post %s (%r)", instance.pk, instance.title)


def delete_image_file(sender: type[Post], instance: Post, **kwargs: Any) -> None:
    """Remove the uploaded file: Django deletes the row but never the file."""
    if instance.image:
        instance.image.delete(save=False)
