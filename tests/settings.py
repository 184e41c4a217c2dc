"""Settings for the test suite: a small project with its own models."""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

# The demo site's apps live in testproject/ and are installed below, so that
# tests/test_testproject.py drives them; pytester's subprocesses need the path too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "testproject"))

SECRET_KEY = "signaltrace-tests"
DEBUG = True
USE_TZ = True
ALLOWED_HOSTS = ["*"]
INTERNAL_IPS = ["127.0.0.1"]
ROOT_URLCONF = "tests.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "signaltrace",
    "tests.app",
    # The demo site's apps; "core" last, as in testproject/settings.py.
    "accounts",
    "blog",
    "courses",
    "shop",
    "requestlog",
    "reports",
    "status",
    "api",
    "core",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Django 6.1 warns when mail is sent without MAILERS (the demo's receivers send
# some); older versions ignore the setting. The test runner swaps in locmem.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

# django-debug-toolbar (the "toolbar" extra), for tests/test_panel.py, which
# sets the panels and middleware per test. Its DatabaseStore needs its table,
# which the toolbar only migrates when that store is chosen at start-up; the
# tests switch to the other stores with override_settings.
if find_spec("debug_toolbar") is not None:
    INSTALLED_APPS.append("debug_toolbar")
    DEBUG_TOOLBAR_CONFIG = {"TOOLBAR_STORE_CLASS": "debug_toolbar.store.DatabaseStore"}
    # Its middleware is added by the tests that use it, not here.
    SILENCED_SYSTEM_CHECKS = ["debug_toolbar.W001"]
