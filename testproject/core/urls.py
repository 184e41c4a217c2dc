"""The home page and the database page (scenario 9)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("database/", views.database, name="database"),
]
