"""URLs of the demo site: one include per app, then the debugging tools.

The admin, the toolbar and the signaltrace viewer are mounted only when
installed: the test suite serves these URLs with the demo's apps alone.
"""

from __future__ import annotations

from importlib.util import find_spec

from django.apps import apps
from django.conf import settings
from django.conf.urls.static import static
from django.urls import URLPattern, URLResolver, include, path

from . import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("core.urls")),
    path("accounts/", include("accounts.urls")),
    path("blog/", include("blog.urls")),
    path("courses/", include("courses.urls")),
    path("shop/", include("shop.urls")),
    path("requests/", include("requestlog.urls")),
    path("reports/", include("reports.urls")),
    path("status/", include("status.urls")),
    path("api/", include("api.urls")),
    # A signal argument taken from the URL, shown as text by the panel.
    path("echo/", views.echo, name="echo"),
]

if apps.is_installed("django.contrib.admin"):
    from django.contrib import admin

    urlpatterns.append(path("admin/", admin.site.urls))

# The viewer of recent request traces, for API-only projects: the JSON
# endpoint of scenario 12 has no page for a toolbar to live in.
if find_spec("signaltrace.urls") is not None:
    urlpatterns.append(path("__signaltrace__/", include("signaltrace.urls")))

if apps.is_installed("debug_toolbar"):
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()

# Uploaded images of scenario 4 (runserver serves static files itself).
if settings.MEDIA_URL:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
