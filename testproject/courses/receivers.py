"""Receivers of the courses app, connected in :meth:`CoursesConfig.ready`."""

from __future__ import annotations

from typing import Any

from django.db import models

from .models import Enrollment

#: What each m2m_changed action means for the log; other actions are ignored.
#: ``pre_clear`` rather than ``post_clear``: once cleared, who was there is gone.
_ACTIONS = {
    "post_add": Enrollment.Action.JOINED,
    "post_remove": Enrollment.Action.LEFT,
    "pre_clear": Enrollment.Action.CLEARED,
}


def record_enrollments(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    pk_set: set[Any] | None,
    **kwargs: Any,
) -> None:
    """Write one Enrollment row per student who joined or left a course.

    Works from both sides: ``course.students.add(user)`` (``reverse`` False,
    ``pk_set`` holds user ids) and ``user.courses.add(course)`` (``reverse``
    True, ``pk_set`` holds course ids). ``pk_set`` is None for clears.
    """
    log_action = _ACTIONS.get(action)
    if log_action is None:
        return
    if pk_set is None:  # a clear: the ids are the current members, still there
        related = instance.courses if reverse else instance.students
        pk_set = set(related.values_list("pk", flat=True))
    if reverse:
        pairs = [(course_id, instance.pk) for course_id in pk_set]
    else:
        pairs = [(instance.pk, student_id) for student_id in pk_set]
    Enrollment.objects.bulk_create(
        Enrollment(course_id=course_id, student_id=student_id, action=log_action)
        for course_id, student_id in sorted(pairs)
    )
