"""Profiles and failed logins in the admin."""

from __future__ import annotations

from django.contrib import admin

from .models import FailedLogin, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "login_count", "last_logout_at"]


@admin.register(FailedLogin)
class FailedLoginAdmin(admin.ModelAdmin):
    list_display = ["username", "ip_address", "attempted_at"]
