"""A trace per run of a task of Django's tasks framework (``signaltrace.tasks``).

``django.tasks`` on Django 6.0+, the ``django-tasks`` backport before. With
the immediate backend a task runs inside the request that enqueued it; with
django-tasks-db's database backend, in a real ``db_worker`` subprocess that
shares a SQLite file with the test process (``HISTORY_STORE="database"``).
Celery: tests/test_celery.py.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import importlib
import logging
import os
import re
import signal
import socket
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import django
import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.test import Client, override_settings

import signaltrace
from signaltrace import history as history_module
from signaltrace import install, request_scope, tasks
from signaltrace.history import HistoryEntry, get_store, history
from tests.tasks_app import shared, work

pytestmark = [
    shared.require(
        "django.tasks|django_tasks",
        why="Django's tasks framework: built in from Django 6.0, the backport before",
    ),
    pytest.mark.django_db,
]

FILE_AUTHOR = "tests.tasks_app.tasks.file_author"
FAIL = "tests.tasks_app.tasks.fail"


@pytest.fixture
def app_tasks() -> ModuleType:
    """tests.tasks_app.tasks, whose framework is imported with it."""
    return importlib.import_module("tests.tasks_app.tasks")


@pytest.fixture
def task_signals(app_tasks: ModuleType) -> ModuleType:
    """The signals module of the framework the tasks run on."""
    return importlib.import_module(f"{app_tasks.FRAMEWORK}.signals")


@pytest.fixture(autouse=True)
def task_tracing(app_tasks: ModuleType) -> Iterator[None]:
    """Task tracing started anew, now that the framework is imported.

    The app started it at start-up (DEBUG is on), before the backport was
    imported; it is left as it was found.
    """
    was_on = tasks.is_task_tracing()
    tasks.stop_task_tracing()
    tasks.start_task_tracing()
    yield
    tasks.stop_task_tracing()
    request_scope.stop_request_tracing()
    history.clear()
    if was_on:
        tasks.start_task_tracing()


@pytest.fixture
def traced(settings: Any) -> None:
    """Requests traced by the middleware; the tasks' views and the viewer served."""
    settings.DEBUG = True
    settings.MIDDLEWARE = [shared.MIDDLEWARE, *settings.MIDDLEWARE]
    settings.ROOT_URLCONF = "tests.tasks_app.urls"


def task_entries() -> list[HistoryEntry]:
    return get_store().entries("task")


def the_task_entry() -> HistoryEntry:
    entries = task_entries()
    assert len(entries) == 1, [entry.label for entry in entries]
    return entries[0]


def request_entry() -> HistoryEntry:
    (entry,) = get_store().entries("request")
    return entry


def signal_names(entry: HistoryEntry) -> list[str]:
    return [event["signal"] for event in entry.data()["events"]]


def short(names: list[str]) -> list[str]:
    return [name.rsplit(".", 1)[-1] for name in names]


def enqueue(client: Client, name: str, *, fail: bool = False) -> str:
    """Enqueue a task from a view; the task's id."""
    response = client.get(f"/enqueue/{name}/", {"fail": "1"} if fail else {})
    assert response.status_code == 200
    task_id: str = response.json()["id"]
    return task_id


def detail_url(entry: HistoryEntry) -> str:
    return f"/__signaltrace__/{entry.id}/"


# ------------------------------------------------------- the immediate backend


@pytest.mark.usefixtures("traced")
def test_a_run_gets_a_trace_of_kind_task_with_its_name_id_and_outcome(
    client: Client,
) -> None:
    task_id = enqueue(client, "ada")

    entry = the_task_entry()
    assert (entry.kind, entry.name, entry.task_id, entry.outcome) == (
        "task",
        FILE_AUTHOR,
        task_id,
        "SUCCESSFUL",
    )


@pytest.mark.usefixtures("traced")
def test_a_runs_trace_opens_with_task_started_and_closes_with_task_finished(
    client: Client,
) -> None:
    enqueue(client, "ada")

    names = short(signal_names(the_task_entry()))
    assert names[0] == "task_started"
    assert names[-1] == "task_finished"
    assert "author_filed" in names
    assert "task_enqueued" not in names  # sent before the run began


@pytest.mark.usefixtures("traced")
def test_the_enqueuing_requests_trace_records_the_inline_run_too(
    client: Client,
) -> None:
    enqueue(client, "ada")

    names = short(signal_names(request_entry()))
    run = names[names.index("task_enqueued") :]
    assert run[:2] == ["task_enqueued", "task_started"]
    assert run.index("author_filed") < run.index("task_finished")


@pytest.mark.usefixtures("traced")
def test_the_request_that_enqueued_a_task_notes_it_and_its_page_links_to_the_run(
    client: Client,
) -> None:
    task_id = enqueue(client, "ada")

    assert request_entry().tasks == [{"name": FILE_AUTHOR, "id": task_id}]
    page = client.get(detail_url(request_entry())).content.decode()
    assert f'href="{detail_url(the_task_entry())}"' in page


@pytest.mark.usefixtures("traced")
def test_a_run_that_raised_has_the_failed_outcome(client: Client) -> None:
    enqueue(client, "bob", fail=True)

    entry = the_task_entry()
    assert (entry.name, entry.outcome) == (FAIL, "FAILED")
    assert short(signal_names(entry))[-1] == "task_finished"
    listing = client.get("/__signaltrace__/", {"kind": "task"}).content.decode()
    assert FAIL in listing
    assert "FAILED" in listing


@pytest.mark.usefixtures("traced")
def test_the_viewer_lists_the_runs_under_the_task_kind(client: Client) -> None:
    task_id = enqueue(client, "ada")

    listing = client.get("/__signaltrace__/", {"kind": "task"}).content.decode()
    assert FILE_AUTHOR in listing
    assert task_id in listing
    assert "/enqueue/ada/" not in listing


def test_a_run_outside_any_request_is_traced(app_tasks: ModuleType) -> None:
    result = app_tasks.file_author.enqueue("ada")

    entry = the_task_entry()
    assert (entry.task_id, entry.outcome) == (str(result.id), "SUCCESSFUL")


def test_a_task_enqueued_by_a_run_gets_a_trace_of_its_own_nested_in_its_parents(
    app_tasks: ModuleType,
) -> None:
    result = app_tasks.file_then_enqueue.enqueue("ada")

    outer, inner = task_entries()  # newest first: the outer run ends last
    assert outer.task_id == str(result.id)
    assert outer.tasks == [{"name": FILE_AUTHOR, "id": inner.task_id}]
    # The inner run's sends, in the outer run's trace too.
    inner_names, outer_names = signal_names(inner), signal_names(outer)
    start = outer_names.index(inner_names[0], 1)
    assert outer_names[start : start + len(inner_names)] == inner_names
    assert short(outer_names)[-1] == "task_finished"


def test_a_capture_around_an_enqueue_notes_the_task_and_records_the_run(
    app_tasks: ModuleType,
) -> None:
    with signaltrace.capture() as trace:
        result = app_tasks.file_author.enqueue("ada")

    assert trace.tasks == [(FILE_AUTHOR, str(result.id))]
    trace.assert_order("task_enqueued", "task_started", "author_filed", "task_finished")
    assert the_task_entry().task_id == str(result.id)


def test_a_run_sending_more_than_max_events_still_ends_with_task_finished(
    app_tasks: ModuleType, settings: Any
) -> None:
    settings.SIGNALTRACE = {"MAX_EVENTS": 5}

    app_tasks.chatter.enqueue(20)

    entry = the_task_entry()
    names = short(signal_names(entry))
    assert len(names) == 5
    assert names[0] == "task_started"
    assert names[-1] == "task_finished"
    assert entry.dropped == 17  # 3 of the 20 fit, task_finished had room


def test_task_trace_is_the_trace_of_the_run_going_on(
    app_tasks: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    monkeypatch.setattr(work, "chatter", lambda times: seen.append(tasks.task_trace()))

    app_tasks.chatter.enqueue(1)

    assert seen == [the_task_entry().trace]
    assert tasks.task_trace() is None


def test_an_async_enqueue_is_traced(app_tasks: ModuleType) -> None:
    result = async_to_sync(app_tasks.file_author.aenqueue)("ada")

    entry = the_task_entry()
    assert (entry.task_id, entry.outcome) == (str(result.id), "SUCCESSFUL")


def test_each_run_is_logged_once_with_its_trace(
    app_tasks: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="signaltrace"):
        result = app_tasks.file_author.enqueue("ada")

    (record,) = [r for r in caplog.records if r.name == "signaltrace"]
    entry = the_task_entry()
    assert record.getMessage().startswith(f"task {FILE_AUTHOR} SUCCESSFUL: sends=")
    assert record.signal_trace_id == entry.id  # type: ignore[attr-defined]
    assert record.signal_task_id == str(result.id)  # type: ignore[attr-defined]
    assert record.signal_trace["events"][0]["signal"].endswith("task_started")  # type: ignore[attr-defined]


# ------------------------------------------------- never changing the program


def test_no_receiver_is_connected_to_the_task_signals(task_signals: ModuleType) -> None:
    tasks.stop_task_tracing()
    signals = [
        task_signals.task_enqueued,
        task_signals.task_started,
        task_signals.task_finished,
    ]
    before = [(list(s.receivers), s.has_listeners()) for s in signals]

    tasks.start_task_tracing()

    assert [(list(s.receivers), s.has_listeners()) for s in signals] == before


def test_a_task_returns_and_raises_as_it_would_untraced(app_tasks: ModuleType) -> None:
    traced_result = app_tasks.file_author.enqueue("ada")
    failed = app_tasks.fail.enqueue("bob")
    tasks.stop_task_tracing()
    bare_result = app_tasks.file_author.enqueue("cy")

    assert traced_result.return_value == bare_result.return_value - 1
    assert (traced_result.status, failed.status) == ("SUCCESSFUL", "FAILED")
    assert failed.errors[0].exception_class is work.LedgerClosed


def test_with_task_tracing_off_the_send_methods_are_djangos_and_nothing_is_kept(
    app_tasks: ModuleType, task_signals: ModuleType
) -> None:
    tasks.stop_task_tracing()

    result = app_tasks.file_author.enqueue("ada")

    assert result.status == "SUCCESSFUL"
    assert task_entries() == []
    for name in ("task_enqueued", "task_started", "task_finished"):
        signal = getattr(task_signals, name)
        assert not {"send", "send_robust", "asend", "asend_robust"} & set(vars(signal))
    assert not install.is_installed()


def test_between_runs_signal_is_djangos_own(app_tasks: ModuleType) -> None:
    app_tasks.file_author.enqueue("ada")

    assert not install.is_installed()


def test_a_failure_opening_a_runs_trace_leaves_the_task_untouched(
    app_tasks: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class OpeningFailed(Exception):
        pass

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OpeningFailed("injected")

    monkeypatch.setattr(tasks, "_open", fail)

    result = app_tasks.file_author.enqueue("ada")

    assert result.status == "SUCCESSFUL"
    assert task_entries() == []
    assert "failed while opening a task's trace" in caplog.text


def test_a_failure_keeping_a_runs_trace_leaves_the_task_untouched(
    app_tasks: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class KeepingFailed(Exception):
        pass

    def fail(entry: HistoryEntry) -> None:
        raise KeepingFailed("injected")

    monkeypatch.setattr(history_module, "keep", fail)

    result = app_tasks.file_author.enqueue("ada")

    assert result.status == "SUCCESSFUL"
    assert "failed while handing on a task's trace" in caplog.text
    assert not install.is_installed()


# ----------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    ("signaltrace_setting", "debug", "wanted"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"ENABLED": True}, False, True),
        ({"ENABLED": False}, True, False),
        ({"TRACE_TASKS": True}, False, True),
        ({"TRACE_TASKS": False, "ENABLED": True}, True, False),
    ],
)
def test_trace_tasks_follows_enabled_unless_set(
    settings: Any, signaltrace_setting: dict[str, Any], debug: bool, wanted: bool
) -> None:
    settings.SIGNALTRACE = signaltrace_setting
    settings.DEBUG = debug

    assert tasks.is_enabled() is wanted


@pytest.mark.parametrize("trace_tasks", [True, False])
def test_the_app_starts_task_tracing_when_trace_tasks_is_on(
    settings: Any, trace_tasks: bool
) -> None:
    tasks.stop_task_tracing()
    settings.SIGNALTRACE = {"TRACE_TASKS": trace_tasks}

    apps.get_app_config("signaltrace").ready()

    assert tasks.is_task_tracing() is trace_tasks


# ------------------------------------------------- the backport beside Django's


@pytest.mark.skipif(
    django.VERSION < (6, 0) or shared.missing("django_tasks") is not None,
    reason="both frameworks: Django 6.0+ and the django-tasks backport",
)
def test_the_backports_runs_are_traced_beside_djangos() -> None:
    backends = {
        "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
        "backport": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
    }
    with override_settings(TASKS=backends):
        backport = importlib.import_module("tests.tasks_app.backport_tasks")
        tasks.stop_task_tracing()
        tasks.start_task_tracing()

        result = backport.file_author.enqueue("ada")

    entry = the_task_entry()
    assert (entry.name, entry.task_id) == (
        "tests.tasks_app.backport_tasks.file_author",
        str(result.id),
    )
    assert signal_names(entry)[0] == "django_tasks.signals.task_started"


# ------------------------------------------------------ a real database worker


def run_db_worker(database: Path) -> str:
    """Run django-tasks-db's worker until the queue is empty; what it logged."""
    return shared.run(
        shared.manage(
            "db_worker", "--batch", "--no-startup-delay", "--no-reload", "-v", "2"
        ),
        shared.environment(database),
    )


@pytest.fixture
def worker_database(tmp_path: Path, django_db_blocker: Any) -> Iterator[Path]:
    """The SQLite file the test process shares with db_worker, traces kept in it."""
    database = tmp_path / "shared.sqlite3"
    shared.migrate(database)
    with (
        shared.shared_database(database, SIGNALTRACE={"HISTORY_STORE": "database"}),
        django_db_blocker.unblock(),
    ):
        tasks.stop_task_tracing()
        tasks.start_task_tracing()
        yield database


database_worker = shared.require(
    "django_tasks_db", why="the database backend and its db_worker command"
)


@database_worker
def test_a_database_workers_run_is_kept_in_the_shared_history(
    worker_database: Path, client: Client
) -> None:
    task_id = enqueue(client, "ada")
    assert task_entries() == []  # enqueued, not run

    output = run_db_worker(worker_database)

    entry = get_store().for_task(task_id)
    assert entry is not None, output
    assert (entry.kind, entry.name, entry.outcome) == (
        "task",
        FILE_AUTHOR,
        "SUCCESSFUL",
    )
    names = short(signal_names(entry))
    assert (names[0], names[-1]) == ("task_started", "task_finished")
    # What the task itself sent, in the worker: the author's post_save
    # (RECORD_UNRECEIVED in the worker's settings) and author_filed.
    assert names.index("post_save") < names.index("author_filed")
    assert f"task {FILE_AUTHOR} SUCCESSFUL: sends=" in output


@database_worker
def test_the_viewer_links_the_enqueuing_request_to_the_workers_run(
    worker_database: Path, client: Client
) -> None:
    task_id = enqueue(client, "ada")
    before = client.get(detail_url(request_entry())).content.decode()
    assert "not run yet" in before

    run_db_worker(worker_database)

    entry = get_store().for_task(task_id)
    assert entry is not None
    after = client.get(detail_url(request_entry())).content.decode()
    assert f'href="{detail_url(entry)}"' in after
    run = client.get(detail_url(entry)).content.decode()
    assert "author_filed" in run
    assert task_id in run


@database_worker
def test_a_database_workers_failed_run_is_kept_as_failed(
    worker_database: Path, client: Client
) -> None:
    task_id = enqueue(client, "bob", fail=True)

    output = run_db_worker(worker_database)

    entry = get_store().for_task(task_id)
    assert entry is not None, output
    assert (entry.name, entry.outcome) == (FAIL, "FAILED")
    assert short(signal_names(entry))[-1] == "task_finished"


# ---------------------------------------------------------------- the demo


def page(browser: urllib.request.OpenerDirector, url: str, **form: str) -> str | None:
    """The text of *url* (POSTing *form*, if any); None while nothing answers."""
    data = urllib.parse.urlencode(form).encode() if form else None
    request = urllib.request.Request(url, data=data, headers={"Referer": url})
    try:
        with browser.open(request, timeout=10) as response:
            text: str = response.read().decode()
            return text
    except OSError:
        return None


def still_running(groups: list[int]) -> list[int]:
    """Those of the process groups *groups* still running, killed now."""
    running = []
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
            running.append(group)
    return running


@database_worker
def test_the_demo_builds_reports_on_its_worker_and_shows_the_runs_in_the_viewer(
    tmp_path: Path,
) -> None:
    """``make demo``'s last step (testproject/demo.py): runserver and db_worker
    side by side, both stopped by one SIGTERM (as by Ctrl-C)."""
    testproject = shared.ROOT / "testproject"
    env = {
        **os.environ,
        "SIGNALTRACE_DEMO_DB": str(tmp_path / "db.sqlite3"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    shared.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], env, cwd=testproject
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    base = f"http://{address}"
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    command = [sys.executable, "demo.py", address, "--noreload"]
    with shared.Worker(command, env, tmp_path / "demo.log", cwd=testproject) as demo:
        reports = demo.wait_for(
            "the site", lambda: page(browser, f"{base}/reports/"), timeout=90
        )
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', reports)
        assert token is not None

        page(browser, f"{base}/reports/request/", csrfmiddlewaretoken=token[1])

        tasks_listing = demo.wait_for(
            "the build's trace in the viewer",
            lambda: (
                text
                if (text := page(browser, f"{base}/__signaltrace__/?kind=task"))
                and "reports.tasks.build_report" in text
                else None
            ),
            timeout=60,
        )
        assert "SUCCESSFUL" in tasks_listing
        requests = page(browser, f"{base}/__signaltrace__/?kind=request") or ""
        asked = re.search(
            r'href="(/__signaltrace__/[0-9a-f]{32}/)">POST /reports/request/', requests
        )
        assert asked is not None, requests
        assert "its trace" in (page(browser, base + asked[1]) or "")
        pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", demo.output())]
        assert len(pids) == 2, demo.output()  # web and worker

        demo.stop()

    assert demo.process.returncode == 0, demo.output()
    assert still_running(pids) == []  # nor anything they started
