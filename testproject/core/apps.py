"""The site itself: home page, base template, database set-up, demo data."""

from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Scenario 9: ``connection_created`` and ``post_migrate``."""

    name = "core"
    verbose_name = "Demo site"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from . import receivers

        connection_created.connect(receivers.configure_sqlite)
        # Once per migrate, after this app's own migrations: the apps before
        # it in INSTALLED_APPS have their permissions by then.
        post_migrate.connect(receivers.create_default_groups, sender=self)
