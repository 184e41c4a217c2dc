"""The supported Django lines, each on the Python it is tested with."""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

MATRIX = [("3.11", "4.2"), ("3.11", "5.2"), ("3.12", "6.1")]


@nox.session
@nox.parametrize(("python", "django"), MATRIX, ids=[d for _, d in MATRIX])
def tests(session: nox.Session, django: str) -> None:
    """Run the test suite against one Django line."""
    session.install("-e", ".[dev]", f"django~={django}.0")
    session.run("pytest", *session.posargs)


@nox.session
@nox.parametrize(("python", "django"), MATRIX, ids=[d for _, d in MATRIX])
def django_suite(session: nox.Session, django: str) -> None:
    """Run Django's own signal tests bare and traced; they must agree."""
    session.install("-e", ".", f"django~={django}.0", "tblib")
    session.run("python", "scripts/django_suite.py", *session.posargs)


@nox.session(python="3.11")
@nox.parametrize("toolbar", ["4.4", "5", "6", "7"])
def toolbar(session: nox.Session, toolbar: str) -> None:
    """Run the panel's tests against the older django-debug-toolbar lines.

    The main matrix runs them with the newest toolbar. 4.4 and 5 keep stored
    requests as toolbar objects in memory (no store setting), 6 and later in
    a store of their own.
    """
    session.install("-e", ".[dev]", f"django-debug-toolbar~={toolbar}.0")
    session.run("pytest", "tests/test_panel.py", *session.posargs)
