"""Sign-up, login, logout and profile."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path(
        "login/",
        auth_views.LoginView.as_view(next_page="accounts:profile"),
        name="login",
    ),
    path(
        "logout/", auth_views.LogoutView.as_view(next_page="core:home"), name="logout"
    ),
]
