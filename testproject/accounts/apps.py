"""Accounts: sign-up, log in and out (scenarios 1 and 2)."""

from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Connects the receivers of :mod:`accounts.receivers`."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import (
            user_logged_in,
            user_logged_out,
            user_login_failed,
        )
        from django.db.models.signals import post_save

        from . import receivers

        user_model = get_user_model()
        # Called in this order on every save of a user.
        post_save.connect(receivers.create_profile, sender=user_model)
        post_save.connect(receivers.send_welcome_email, sender=user_model)
        post_save.connect(receivers.log_signup, sender=user_model)

        user_logged_in.connect(receivers.count_login)
        user_logged_out.connect(receivers.record_logout)
        user_login_failed.connect(receivers.record_failed_login)
