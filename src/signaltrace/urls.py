"""The viewer's URLs: ``path("__signaltrace__/", include("signaltrace.urls"))``."""

from __future__ import annotations

from django.urls import path, re_path

from signaltrace import views

app_name = "signaltrace"

urlpatterns = [
    path("", views.trace_list, name="list"),
    path("signaltrace.css", views.stylesheet, name="stylesheet"),
    path("filter.js", views.script, name="script"),
    re_path(r"^(?P<trace_id>[0-9a-f]{32})/$", views.trace_detail, name="detail"),
]
