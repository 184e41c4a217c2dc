"""Receivers of the accounts app, connected in :meth:`AccountsConfig.ready`."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import send_mail
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from .models import FailedLogin, Profile

logger = logging.getLogger(__name__)


def create_profile(
    sender: type[AbstractBaseUser],
    instance: AbstractBaseUser,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    """Give every new user a Profile (not when loading fixtures: they bring theirs)."""
    if created and not raw:
        Profile.objects.create(user=instance)


def send_welcome_email(
    sender: type[AbstractBaseUser],
    instance: AbstractBaseUser,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    """Welcome a new user who gave an email address."""
    email = getattr(instance, "email", "")
    if created and not raw and email:
        send_mail(
            subject="Welcome to the signaltrace demo",
            message=(
                f"Hello {instance.get_username()},\n\n"
                "Your account is ready. Every page you visit fires signals: "
                "open the Signal trace panel to see them.\n"
            ),
            from_email=None,
            recipient_list=[email],
        )


def log_signup(
    sender: type[AbstractBaseUser],
    instance: AbstractBaseUser,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    """Leave a line in the log for each new account."""
    if created and not raw:
        logger.info("New user signed up: %s", instance.get_username())


def count_login(
    sender: type[AbstractBaseUser],
    request: HttpRequest | None,
    user: AbstractBaseUser,
    **kwargs: Any,
) -> None:
    """Add one to the user's login count (an UPDATE, so no lost increments)."""
    Profile.objects.filter(user=user).update(login_count=F("login_count") + 1)


def record_logout(
    sender: type[AbstractBaseUser],
    request: HttpRequest | None,
    user: AbstractBaseUser | None,
    **kwargs: Any,
) -> None:
    """Note when a user last logged out (``user`` is None for anonymous visitors)."""
    if user is not None:
        Profile.objects.filter(user=user).update(last_logout_at=timezone.now())


def record_failed_login(
    sender: str,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    """Record the attempt: who was tried, from where. Never the password.

    Django has already replaced the password in ``credentials`` with stars;
    only the username is kept.
    """
    username = str(credentials.get(get_user_model().USERNAME_FIELD, ""))
    FailedLogin.objects.create(
        username=username[:150],
        ip_address=request.META.get("REMOTE_ADDR") if request is not None else None,
    )
