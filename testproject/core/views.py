"""The home page, and the database page of scenario 9."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve

from .demo import ADMIN_USERNAME, DEMO_PASSWORD, STUDENT_USERNAMES
from .receivers import SQLITE_PRAGMAS
from .scenarios import SCENARIOS

#: Where testproject/urls.py mounts the signaltrace viewer, when installed.
VIEWER_PATH = "/__signaltrace__/"


def home(request: HttpRequest) -> HttpResponse:
    """List the scenarios, each with its pages and what to look for."""
    return render(
        request,
        "core/home.html",
        {
            "scenarios": [
                scenario.for_site(request.build_absolute_uri("/").rstrip("/"))
                for scenario in SCENARIOS
            ],
            "viewer_url": _viewer_url(),
            "demo_usernames": (ADMIN_USERNAME, *STUDENT_USERNAMES),
            "demo_password": DEMO_PASSWORD,
        },
    )


def database(request: HttpRequest) -> HttpResponse:
    """Show the pragmas ``connection_created`` set and the default groups."""
    pragmas = {}
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in SQLITE_PRAGMAS:
                cursor.execute(f"PRAGMA {name}")
                pragmas[name] = cursor.fetchone()[0]
    groups = Group.objects.order_by("name").prefetch_related("permissions")
    return render(request, "core/database.html", {"pragmas": pragmas, "groups": groups})


def _viewer_url() -> str | None:
    try:
        resolve(VIEWER_PATH)
    except Resolver404:
        return None
    return VIEWER_PATH
