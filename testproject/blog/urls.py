"""The blog's pages."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "blog"

urlpatterns = [
    path("", views.post_list, name="post_list"),
    path("<int:pk>/", views.post_detail, name="post_detail"),
    path("<int:pk>/like/", views.like, name="like"),
    path("<int:pk>/delete/", views.delete, name="delete"),
]
