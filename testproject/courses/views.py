"""Courses and their students: every way of changing a many-to-many relation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .forms import AddStudentForm
from .models import Course


def course_list(request: HttpRequest) -> HttpResponse:
    """All courses."""
    return render(
        request, "courses/course_list.html", {"courses": Course.objects.all()}
    )


def course_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A course: its students, the buttons that change them, and the log."""
    course = get_object_or_404(Course, pk=pk)
    return render(
        request,
        "courses/course_detail.html",
        {
            "course": course,
            "students": course.students.order_by("username"),
            "is_student": request.user.is_authenticated
            and course.students.filter(pk=request.user.pk).exists(),
            "form": AddStudentForm(course=course),
            "log": course.log.select_related("student")[:20],
        },
    )


@require_POST
def add_student(request: HttpRequest, pk: int) -> HttpResponse:
    """``course.students.add(user)``: m2m_changed pre_add and post_add."""
    course = get_object_or_404(Course, pk=pk)
    form = AddStudentForm(request.POST, course=course)
    if form.is_valid():
        course.students.add(form.cleaned_data["student"])
    else:
        messages.error(request, "Pick a user who is not in the course yet.")
    return redirect(course)


@require_POST
def remove_student(request: HttpRequest, pk: int, user_pk: int) -> HttpResponse:
    """``course.students.remove(user)``: m2m_changed pre_remove and post_remove."""
    course = get_object_or_404(Course, pk=pk)
    course.students.remove(get_object_or_404(get_user_model(), pk=user_pk))
    return redirect(course)


@require_POST
def clear_students(request: HttpRequest, pk: int) -> HttpResponse:
    """``course.students.clear()``: m2m_changed pre_clear and post_clear."""
    course = get_object_or_404(Course, pk=pk)
    course.students.clear()
    return redirect(course)


@require_POST
@login_required
def join(request: HttpRequest, pk: int) -> HttpResponse:
    """``user.courses.add(course)``: the same signal, from the other side."""
    course = get_object_or_404(Course, pk=pk)
    request.user.courses.add(course)
    return redirect(course)


@require_POST
@login_required
def leave(request: HttpRequest, pk: int) -> HttpResponse:
    """``user.courses.remove(course)``: m2m_changed with ``reverse=True``."""
    course = get_object_or_404(Course, pk=pk)
    request.user.courses.remove(course)
    return redirect(course)
