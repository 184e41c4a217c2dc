"""Health checks, connected to :data:`status.signals.health_check` in ``ready()``.

The async ones run concurrently when the view awaits ``asend``; the sync one
runs in a worker thread.
"""

from __future__ import annotations

import shutil
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import DatabaseError

from .checks import CheckResult


async def check_database(sender: object, **kwargs: Any) -> CheckResult:
    """Run a query through the async ORM."""
    try:
        users = await get_user_model().objects.acount()
    except DatabaseError as error:
        return CheckResult("database", False, str(error))
    return CheckResult("database", True, f"{users} users")


async def check_cache(sender: object, **kwargs: Any) -> CheckResult:
    """Write a value to the cache and read it back."""
    await cache.aset("status:health-check", "ok", timeout=10)
    value = await cache.aget("status:health-check")
    return CheckResult("cache", value == "ok", f"read back {value!r}")


def check_disk(sender: object, **kwargs: Any) -> CheckResult:
    """Look at the free space where uploads go (a blocking call: a sync receiver)."""
    usage = shutil.disk_usage(settings.MEDIA_ROOT or ".")
    free = usage.free / usage.total
    return CheckResult("disk", free > 0.05, f"{free:.0%} free")
