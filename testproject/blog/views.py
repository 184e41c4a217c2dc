"""List, write, like and delete posts."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .forms import PostForm
from .models import Post
from .signals import post_liked


def post_list(request: HttpRequest) -> HttpResponse:
    """The posts, and the form to write one (scenario 3)."""
    form = PostForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        post = form.save()
        messages.success(request, f"Published {post.title!r}: pre_save capitalised it.")
        return redirect(post)
    return render(
        request, "blog/post_list.html", {"posts": Post.objects.all(), "form": form}
    )


def post_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One post, with its Like and Delete buttons."""
    post = get_object_or_404(Post, pk=pk)
    return render(request, "blog/post_detail.html", {"post": post})


@require_POST
def like(request: HttpRequest, pk: int) -> HttpResponse:
    """Send :data:`blog.signals.post_liked`; a receiver counts the like."""
    post = get_object_or_404(Post, pk=pk)
    reader = request.user if request.user.is_authenticated else None
    post_liked.send(sender=Post, post=post, user=reader)
    return redirect(post)


@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a post (scenario 4): its file goes with it through post_delete."""
    post = get_object_or_404(Post, pk=pk)
    post.delete()
    messages.success(request, f"Deleted {post.title!r} and its image.")
    return redirect("blog:post_list")
