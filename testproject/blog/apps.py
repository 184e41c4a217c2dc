"""The blog: pre_save, a custom signal, and deleting uploads (scenarios 3 and 4)."""

from __future__ import annotations

from django.apps import AppConfig


class BlogConfig(AppConfig):
    """Connects the receivers of :mod:`blog.receivers`."""

    name = "blog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, pre_delete, pre_save

        from . import receivers
        from .models import Post
        from .signals import post_liked

        pre_save.connect(receivers.capitalize_title, sender=Post)
        post_liked.connect(receivers.count_like, sender=Post)
        pre_delete.connect(receivers.log_deletion, sender=Post)
        post_delete.connect(receivers.delete_image_file, sender=Post)
