"""Posts in the admin."""

from __future__ import annotations

from django.contrib import admin

from .models import Post


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["title", "likes", "created_at"]
