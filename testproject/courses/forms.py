"""The form to enrol a student."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model


class AddStudentForm(forms.Form):
    """Pick a user who is not in the course yet."""

    student = forms.ModelChoiceField(queryset=get_user_model().objects.none())

    def __init__(self, *args: object, course: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["student"].queryset = (
            get_user_model().objects.exclude(courses=course).order_by("username")
        )
