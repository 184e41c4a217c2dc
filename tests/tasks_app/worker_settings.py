"""Settings of the worker subprocesses: the tasks of :mod:`tests.tasks_app`
over the SQLite file ``SIGNALTRACE_SHARED_DB``, which the test process shares
(see :mod:`tests.tasks_app.shared`).

As a production worker would run: ``DEBUG`` off, task tracing on, the traces
kept in the database and logged.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

SECRET_KEY = "signaltrace-tests"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "signaltrace",
    "tests.app",
]
# Django's tasks framework: built in from 6.0, the backport before.
if find_spec("django.tasks") is None and find_spec("django_tasks") is not None:
    INSTALLED_APPS.append("django_tasks")
if find_spec("django_tasks_db") is not None:
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["SIGNALTRACE_SHARED_DB"],
        # The test process writes to the same file meanwhile.
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# tests.app keeps receivers that its commands import: not a worker's concern.
SILENCED_SYSTEM_CHECKS = ["signaltrace.W001"]

SIGNALTRACE = {
    "TRACE_TASKS": True,
    "HISTORY_STORE": "database",
    # post_save of an Author reaches no receiver: record it all the same.
    "RECORD_UNRECEIVED": True,
}

# Celery, with kombu's filesystem transport: the broker is a folder.
_folder = os.environ.get("SIGNALTRACE_CELERY_FOLDER", "")
CELERY_BROKER_URL = "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": _folder,
    "data_folder_out": _folder,
    # Its exchange tables too, not in the working directory (./control).
    "control_folder": os.path.join(_folder, "control"),
    "polling_interval": 0.05,
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"signaltrace": {"handlers": ["stderr"], "level": "INFO"}},
}
