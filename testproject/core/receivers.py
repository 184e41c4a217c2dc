"""Database set-up: pragmas on every SQLite connection, default groups after migrate."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q

logger = logging.getLogger(__name__)

#: Sent as ``PRAGMA name = value`` on every new SQLite connection.
SQLITE_PRAGMAS = {
    # 20 MB of page cache instead of SQLite's 2 MB default.
    "cache_size": "-20000",
    # Sorts and temporary indexes in memory rather than in temporary files.
    "temp_store": "MEMORY",
}

#: Groups every installation starts with: name -> (app label, codename) pairs.
DEFAULT_GROUPS = {
    "Editors": [("blog", "add_post"), ("blog", "change_post"), ("blog", "delete_post")],
    "Instructors": [("courses", "change_course"), ("courses", "view_enrollment")],
    "Shop managers": [("shop", "change_product"), ("shop", "view_order")],
}


def configure_sqlite(
    sender: type[BaseDatabaseWrapper], connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    """Apply :data:`SQLITE_PRAGMAS`: pragmas last as long as their connection."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name, value in SQLITE_PRAGMAS.items():
            cursor.execute(f"PRAGMA {name} = {value}")


def create_default_groups(
    sender: object, *, using: str, apps: Apps = global_apps, **kwargs: Any
) -> None:
    """Create the :data:`DEFAULT_GROUPS` that do not exist yet, with their permissions.

    Groups that exist are left alone, so that changes made in the admin stay.
    ``migrate`` passes the historical ``apps`` of the migration state, used as
    in a data migration; ``flush`` passes none.
    """
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:  # django.contrib.auth is not migrated in this database
        return
    for name, permissions in DEFAULT_GROUPS.items():
        group, created = group_model.objects.using(using).get_or_create(name=name)
        if not created:
            continue
        wanted = Q()
        for app_label, codename in permissions:
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(permission_model.objects.using(using).filter(wanted))
        logger.info("Created the default group %r", name)
