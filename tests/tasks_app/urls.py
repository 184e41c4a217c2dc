from __future__ import annotations

from django.urls import include, path

from tests.tasks_app import views

urlpatterns = [
    path("__signaltrace__/", include("signaltrace.urls")),
    path("enqueue/<str:name>/", views.enqueue),
    path("publish/<str:name>/", views.publish),
]
