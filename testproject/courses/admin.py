"""Courses and the enrolment log in the admin."""

from __future__ import annotations

from django.contrib import admin

from .models import Course, Enrollment


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    filter_horizontal = ["students"]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["course", "student", "action", "at"]
