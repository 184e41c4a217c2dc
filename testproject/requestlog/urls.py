"""The request log's pages."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "requestlog"

urlpatterns = [
    path("", views.request_list, name="request_list"),
    path("boom/", views.boom, name="boom"),
]
