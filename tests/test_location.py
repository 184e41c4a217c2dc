"""Where a send came from: the user's own line, not the machinery's (issue 14.7)."""

from __future__ import annotations

import contextvars
import io
import runpy
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.dispatch import Signal

import signaltrace
from signaltrace.naming import class_name
from signaltrace.sources import is_library_file, origin

HERE = Path(__file__)


def test_a_send_from_the_project_is_located_at_the_project_line() -> None:
    signal = Signal()
    signal.connect(_noop)
    with signaltrace.capture() as trace:
        line = sys._getframe().f_lineno + 1
        signal.send(sender="test")
    location = trace.events[0].location
    assert location is not None
    assert (location.filename, location.lineno) == (__file__, line)


def _noop(**kwargs: Any) -> None:
    return None


def _run_as_main(script: Path, **init_globals: Any) -> None:
    """Run *script* as ``__main__`` (as ``python manage.py`` runs), in a thread
    of this context: no frame of this test module is on its stack."""
    run = contextvars.copy_context().run
    thread = threading.Thread(
        target=run,
        args=(runpy.run_path, str(script)),
        kwargs={"init_globals": init_globals, "run_name": "__main__"},
    )
    thread.start()
    thread.join()


def _package_module(tmp_path: Path, name: str, source: str) -> types.ModuleType:
    """A module whose code lives in a ``site-packages`` directory, as a package's."""
    directory = tmp_path / "site-packages"
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(source)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def test_a_send_through_a_package_is_located_at_the_project_line_that_called_it(
    tmp_path: Path,
) -> None:
    # debug_toolbar's SQL tracking sends connection_created: the line that
    # matters is the project's query, not the package's wrapper.
    package = _package_module(
        tmp_path, "wrapping_package", "def call(function):\n    return function()\n"
    )
    signal = Signal()
    signal.connect(_noop)
    with signaltrace.capture() as trace:
        line = sys._getframe().f_lineno + 1
        package.call(lambda: signal.send(sender="test"))
    location = trace.events[0].location
    assert location is not None
    assert (location.filename, location.lineno) == (__file__, line)


def test_a_package_sending_on_its_own_is_located_in_the_package(
    tmp_path: Path,
) -> None:
    signal = Signal()
    signal.connect(_noop)
    package = _package_module(
        tmp_path,
        "sending_package",
        "def send(signal):\n    return signal.send(sender='package')\n",
    )
    # No project frame but the launcher's top level: runpy runs a script as
    # __main__, as manage.py runs.
    script = tmp_path / "launcher.py"
    script.write_text("SEND(SIGNAL)\n")
    with signaltrace.capture() as trace:
        _run_as_main(script, SEND=package.send, SIGNAL=signal)
    location = trace.events[0].location
    assert location is not None
    assert location.filename == package.__file__
    assert location.function == "send"


@pytest.mark.django_db(transaction=True)
def test_management_signals_are_located_where_django_sends_them_not_in_manage_py(
    tmp_path: Path,
) -> None:
    script = tmp_path / "manage.py"
    script.write_text(
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0, stdout=STDOUT)\n"
    )
    with signaltrace.capture() as trace:
        _run_as_main(script, STDOUT=io.StringIO())
    post_migrate = trace.filter("post_migrate")
    assert post_migrate
    for event in post_migrate:
        assert event.location is not None
        assert event.location.filename.endswith("django/core/management/sql.py")
        assert event.location.function == "emit_post_migrate_signal"


def test_origin_tells_the_project_packages_and_the_framework_apart() -> None:
    import threading

    import debug_toolbar
    import django

    assert origin(django.__file__ or "") == "framework"
    assert origin(threading.__file__ or "") == "framework"
    assert origin(signaltrace.__file__ or "") == "framework"
    assert origin(debug_toolbar.__file__ or "") == "package"
    assert origin(__file__) == "project"
    assert origin("<string>") == "project"
    assert is_library_file(django.__file__ or "")
    assert not is_library_file(__file__)


def test_a_historical_model_is_named_by_its_label() -> None:
    state = ProjectState.from_apps(apps)
    historical = state.apps.get_model("blog", "Post")
    assert historical.__module__ == "__fake__"
    assert class_name(historical) == "historical blog.Post"


def test_a_model_made_in_a_function_is_named_without_locals() -> None:
    model = MigrationRecorder.Migration
    assert "<locals>" in model.__qualname__
    assert class_name(model) == "django.db.migrations.recorder.Migration"


@pytest.mark.django_db
def test_a_data_migration_s_sends_name_the_historical_model() -> None:
    from blog.models import Post

    state = ProjectState.from_apps(apps)
    historical = state.apps.get_model("blog", "Post")
    with signaltrace.capture(record_unreceived=True) as trace:
        historical.objects.create(title="From a migration")
    senders = {event.sender_name for event in trace.filter("post_save")}
    assert senders == {"historical blog.Post"}
    assert trace.filter("post_save", sender="Post")  # the one matching rule
    assert trace.filter("post_save", sender="blog.Post")  # by the model's label
    assert Post.objects.count() == 1
