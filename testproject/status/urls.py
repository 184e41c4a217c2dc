"""The status page."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "status"

urlpatterns = [
    path("", views.status, name="status"),
]
