"""Settings of the demo site: embedded SQLite, DEBUG on, signaltrace enabled.

Not for production: the secret key is public and DEBUG is on. The parts of
signaltrace and django-debug-toolbar are switched on only when they can be
imported, so the site runs on a bare ``pip install -e .`` too.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "signaltrace-demo-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INTERNAL_IPS = ["127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "signaltrace",
    # The demo's apps, one per scenario area.
    "accounts",
    "blog",
    "courses",
    "shop",
    "requestlog",
    "reports",
    "status",
    "api",
    # Last: its post_migrate receiver gives groups the permissions of the apps
    # above, which Django creates in INSTALLED_APPS order.
    "core",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "requestlog.middleware.RequestLogMiddleware",
]

# django-debug-toolbar is optional (the "toolbar" extra): used when installed.
if find_spec("debug_toolbar") is not None:
    from debug_toolbar.settings import PANELS_DEFAULTS

    INSTALLED_APPS.append("debug_toolbar")
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    DEBUG_TOOLBAR_PANELS = list(PANELS_DEFAULTS)
    # The signaltrace panel, once signaltrace ships it, near the top of the
    # list, where a 900-pixel-high window still shows it. The toolbar's own
    # SignalsPanel stays: it lists what is connected, ours what fired.
    if find_spec("signaltrace.panels") is not None:
        DEBUG_TOOLBAR_PANELS.insert(
            DEBUG_TOOLBAR_PANELS.index("debug_toolbar.panels.timer.TimerPanel") + 1,
            "signaltrace.panels.SignalTracePanel",
        )

# A trace per request for the viewer at /__signaltrace__/ (see urls.py), once
# signaltrace ships the middleware. First, so that it sees every other one.
if find_spec("signaltrace.middleware") is not None:
    MIDDLEWARE.insert(0, "signaltrace.middleware.SignalTraceMiddleware")

ROOT_URLCONF = "testproject.urls"
WSGI_APPLICATION = "testproject.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SIGNALTRACE_DEMO_DB points the site at another SQLite file: the browser test
# (tests/test_browser.py) runs it on a database of its own.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SIGNALTRACE_DEMO_DB") or BASE_DIR / "db.sqlite3",
        # runserver and the task worker write to the file side by side.
        "OPTIONS": {"timeout": 20},
    }
}
if django.VERSION >= (5, 1):
    # A write transaction takes the lock when it begins, not half-way.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

# Scenario 7 keeps rendered product pages here; one process, so local memory.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Scenario 10: the report build is a task of Django's tasks framework
# (django.tasks on 6.0+, the django-tasks backport before). With
# django-tasks-db (the dev extra) it runs on a worker process, `manage.py
# db_worker`, which `make demo` starts beside runserver (testproject/demo.py);
# otherwise Django's immediate backend runs it in-process at once.
_HAS_DJANGO_TASKS = find_spec("django.tasks") is not None
_TASK_APPS = []
if not _HAS_DJANGO_TASKS and find_spec("django_tasks") is not None:
    _TASK_APPS.append("django_tasks")
if find_spec("django_tasks_db") is not None and (_HAS_DJANGO_TASKS or _TASK_APPS):
    _TASK_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif _HAS_DJANGO_TASKS:
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
# Before "core", which stays last.
INSTALLED_APPS[INSTALLED_APPS.index("core") : INSTALLED_APPS.index("core")] = _TASK_APPS

# The traces of requests and of the worker's task runs in one table (migrate
# creates it), so that the viewer shows them side by side. Task tracing
# follows DEBUG, as request tracing does.
if find_spec("signaltrace.database_history") is not None:
    SIGNALTRACE = {"HISTORY_STORE": "database"}

# Welcome emails and receipts are printed in the runserver terminal. Django
# 6.1 configures mail with MAILERS, older versions with EMAIL_BACKEND.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "demo@signaltrace.invalid"

LOGIN_URL = "accounts:login"

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The demo's receivers log what they do; show it next to runserver's lines.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"demo": {"format": "[{name}] {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "demo"}},
    "loggers": {
        name: {"handlers": ["console"], "level": "INFO", "propagate": False}
        for name in (
            "accounts",
            "blog",
            "courses",
            "shop",
            "requestlog",
            "reports",
            "core",
            "signaltrace",
        )
    },
}
