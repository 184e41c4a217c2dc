"""Reports in the admin."""

from __future__ import annotations

from django.contrib import admin

from .models import Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["pk", "status", "requested_at", "built_at", "orders", "revenue"]
