"""What the site keeps about its users besides Django's User."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    """One per user, created by :func:`accounts.receivers.create_profile`."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    login_count = models.PositiveIntegerField(default=0)
    last_logout_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Profile of user {self.user_id}"


class FailedLogin(models.Model):
    """A login attempt that failed, recorded by ``user_login_failed``."""

    username = models.CharField(max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    attempted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-attempted_at", "-pk"]

    def __str__(self) -> str:
        return f"Failed login as {self.username!r} from {self.ip_address}"
