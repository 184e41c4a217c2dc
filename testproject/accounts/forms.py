"""The sign-up form."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    """Django's user creation form, asking for an email for the welcome message."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")
