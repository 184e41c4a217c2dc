from __future__ import annotations

from django.urls import include, path

from tests.app import views

urlpatterns = [
    path("__signaltrace__/", include("signaltrace.urls")),
    path("hello/", views.hello),
    path("author/", views.create_author),
    path("marker/<str:marker>/", views.marker),
    path("large/<str:number>/", views.large),
    path("async-marker/<str:marker>/", views.async_marker),
    path("stream/", views.stream),
    path("fail/", views.fail),
    path("nested/", views.nested),
    path("later/", views.later),
    path("post-redirect/", views.post_redirect),
    path("chain/<int:depth>/", views.chain),
    path("haystack/", views.haystack),
]
