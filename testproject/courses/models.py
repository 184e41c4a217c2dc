"""Courses, their students, and the log of who joined and left."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class Course(models.Model):
    """A course; adding and removing students goes through ``students``."""

    title = models.CharField(max_length=200)
    students = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="courses", blank=True
    )

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("courses:course_detail", args=[self.pk])


class Enrollment(models.Model):
    """One change of a course's students, written by ``m2m_changed``."""

    class Action(models.TextChoices):
        JOINED = "joined", "joined"
        LEFT = "left", "left"
        CLEARED = "cleared", "removed when the course was cleared"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="log")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    action = models.CharField(max_length=10, choices=Action.choices)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"user {self.student_id} {self.action} course {self.course_id}"
