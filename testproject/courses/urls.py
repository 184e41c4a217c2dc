"""The courses' pages and the actions on their students."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "courses"

urlpatterns = [
    path("", views.course_list, name="course_list"),
    path("<int:pk>/", views.course_detail, name="course_detail"),
    path("<int:pk>/students/add/", views.add_student, name="add_student"),
    path(
        "<int:pk>/students/<int:user_pk>/remove/",
        views.remove_student,
        name="remove_student",
    ),
    path("<int:pk>/students/clear/", views.clear_students, name="clear_students"),
    path("<int:pk>/join/", views.join, name="join"),
    path("<int:pk>/leave/", views.leave, name="leave"),
]
