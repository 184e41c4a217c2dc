"""The form to write a post."""

from __future__ import annotations

from django import forms

from .models import Post


class PostForm(forms.ModelForm):
    """Title, body and an optional image."""

    class Meta:
        model = Post
        fields = ["title", "body", "image"]
