"""A SQLite file that the test process and worker subprocesses both use.

The test suite's database is in memory, out of a worker's reach. So for the
length of a test, :func:`shared_database` adds a connection to a file
(:data:`ALIAS`) and routes every model there (:class:`SharedRouter`), the
tables made by ``migrate`` in a subprocess with the workers' settings
(:mod:`tests.tasks_app.worker_settings`). :func:`run` and :func:`Worker`
start those subprocesses, with a timeout, and always end them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

T = TypeVar("T")

#: The connection to the shared file, in the test process.
ALIAS = "shared"
#: The root of the repository: the workers' working directory.
ROOT = Path(__file__).resolve().parent.parent.parent
WORKER_SETTINGS = "tests.tasks_app.worker_settings"
MIDDLEWARE = "signaltrace.middleware.SignalTraceMiddleware"


def missing(*modules: str) -> str | None:
    """The first of *modules* not installed, if any (``"a|b"``: either will do)."""
    for module in modules:
        if all(find_spec(name) is None for name in module.split("|")):
            return module.replace("|", " or ")
    return None


def require(*modules: str, why: str) -> pytest.MarkDecorator:
    """Skip unless *modules* are installed, except under ``CI=true``: the dev
    extra installs them, CI must run these tests (they fail there then)."""
    absent = missing(*modules)
    return pytest.mark.skipif(
        absent is not None and os.environ.get("CI") != "true",
        reason=f"{absent} is not installed ({why}): pip install -e '.[dev]'",
    )


class SharedRouter:
    """Every model to the shared file, for as long as the test runs."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        return ALIAS

    def db_for_write(self, model: type, **hints: Any) -> str:
        return ALIAS

    def allow_relation(self, obj1: object, obj2: object, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == ALIAS


def environment(database: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker subprocess."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "SIGNALTRACE_SHARED_DB": str(database),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def run(
    command: list[str], env: dict[str, str], timeout: float = 120, cwd: Path = ROOT
) -> str:
    """Run *command* to its end; its output, or a failure that shows it."""
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return output


def manage(*arguments: str) -> list[str]:
    """``python -m django ...``, in this interpreter."""
    return [sys.executable, "-m", "django", *arguments]


def migrate(database: Path) -> None:
    """Create the workers' tables in *database*."""
    run(manage("migrate", "--noinput", "-v", "0"), environment(database))


class Worker:
    """A worker subprocess running until :meth:`stop` (a context manager).

    Its output goes to *log*, shown when a wait for it fails.
    """

    def __init__(
        self, command: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        self.log = log
        with log.open("wb") as output:
            # A session of its own: the stop reaches every process it started.
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(
        self, what: str, found: Callable[[], T | None], timeout: float = 30
    ) -> T:
        """Poll *found* until it gives something; fail after *timeout* seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value is not None:
                return value
            if self.process.poll() is not None:
                raise AssertionError(
                    f"The worker exited ({self.process.returncode}) before "
                    f"{what}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"No {what} after {timeout} s; the worker said:\n{self.output()}"
                )
            time.sleep(0.05)

    def stop(self, grace: float = 10) -> None:
        """End the worker: politely, then after *grace* seconds not."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _tasks_apps() -> list[str]:
    """The apps the tasks framework's database backend needs here."""
    apps = []
    if find_spec("django.tasks") is None:
        apps.append("django_tasks")
    apps.append("django_tasks_db")
    return [app for app in apps if app not in settings.INSTALLED_APPS]


@contextlib.contextmanager
def shared_database(database: Path, **overrides: Any) -> Iterator[None]:
    """Use *database* (migrated) for every model, with these settings.

    The viewer's URLs and the tasks' views are served
    (:mod:`tests.tasks_app.urls`), the middleware traces each request, and
    with django-tasks-db installed, ``TASKS`` is its database backend.
    """
    configured = connections.configure_settings(
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(database),
                "OPTIONS": {"timeout": 20},
            }
        }
    )
    connections.settings[ALIAS] = configured["default"]
    if find_spec("django_tasks_db") is not None:
        overrides.setdefault(
            "INSTALLED_APPS", [*settings.INSTALLED_APPS, *_tasks_apps()]
        )
        overrides.setdefault(
            "TASKS", {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
        )
    try:
        with override_settings(
            DATABASE_ROUTERS=[SharedRouter()],
            ROOT_URLCONF="tests.tasks_app.urls",
            MIDDLEWARE=[MIDDLEWARE, *settings.MIDDLEWARE],
            DEBUG=True,
            **overrides,
        ):
            yield
    finally:
        for connection in connections.all(initialized_only=True):
            if connection.alias == ALIAS:
                connection.close()
        with contextlib.suppress(AttributeError):
            del connections[ALIAS]
        del connections.settings[ALIAS]
