"""Blog posts."""

from __future__ import annotations

from django.db import models
from django.urls import reverse


class Post(models.Model):
    """A post, with an optional uploaded image (any file: no Pillow needed)."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    image = models.FileField(upload_to="posts/", blank=True)
    likes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("blog:post_detail", args=[self.pk])
