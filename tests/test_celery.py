"""A trace per run of a Celery task (``signaltrace.tasks``), in the worker.

Nothing is added to the Celery app (tests/tasks_app/celery_app.py): the
worker traces its runs because signaltrace is in its ``INSTALLED_APPS`` with
``TRACE_TASKS`` on. The worker is real (``celery worker --pool=solo``, a
subprocess) on kombu's filesystem transport, and shares a SQLite file with
the test process (``HISTORY_STORE="database"``); eager runs are traced in
the test process itself.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_save
from django.test import Client

import signaltrace
from signaltrace import request_scope, tasks
from signaltrace.history import HistoryEntry, get_store, history
from tests.tasks_app import shared
from tests.tasks_app.work import LedgerClosed

pytestmark = [
    shared.require("celery", why="Celery, its worker and kombu"),
    pytest.mark.django_db,
]

FILE_AUTHOR = "tests.tasks_app.file_author"
FAIL = "tests.tasks_app.fail"


@pytest.fixture(scope="module")
def celery_app() -> ModuleType:
    return importlib.import_module("tests.tasks_app.celery_app")


@pytest.fixture(autouse=True)
def task_tracing() -> Iterator[None]:
    """Task tracing started anew; left as it was found."""
    was_on = tasks.is_task_tracing()
    tasks.stop_task_tracing()
    tasks.start_task_tracing()
    yield
    tasks.stop_task_tracing()
    request_scope.stop_request_tracing()
    history.clear()
    if was_on:
        tasks.start_task_tracing()


def signal_names(entry: HistoryEntry) -> list[str]:
    return [event["signal"].rsplit(".", 1)[-1] for event in entry.data()["events"]]


def the_task_entry() -> HistoryEntry:
    entries = get_store().entries("task")
    assert len(entries) == 1, [entry.label for entry in entries]
    return entries[0]


# ------------------------------------------------------------------ eager runs


def test_an_eager_run_gets_a_trace_with_the_tasks_name_id_and_outcome(
    celery_app: ModuleType,
) -> None:
    result = celery_app.file_author.apply(args=("ada",))

    entry = the_task_entry()
    assert (entry.kind, entry.name, entry.task_id, entry.outcome) == (
        "task",
        FILE_AUTHOR,
        result.id,
        "SUCCESSFUL",
    )
    assert signal_names(entry) == ["author_filed"]


def test_an_eager_run_that_raised_is_failed(celery_app: ModuleType) -> None:
    result = celery_app.fail.apply(args=("bob",))

    assert isinstance(result.result, LedgerClosed)
    assert the_task_entry().outcome == "FAILED"


def test_an_eager_run_is_noted_in_the_traces_recording_where_it_was_called(
    celery_app: ModuleType,
) -> None:
    with signaltrace.capture() as trace:
        result = celery_app.file_author.apply(args=("ada",))

    assert trace.tasks == [(FILE_AUTHOR, result.id)]
    trace.assert_sent_once("author_filed")


def test_receivers_are_connected_to_celerys_signals_only(
    celery_app: ModuleType,
) -> None:
    from celery import signals

    celery_signals = [
        signals.task_prerun,
        signals.task_postrun,
        signals.after_task_publish,
    ]
    django_signals = [post_save, request_started, request_finished]
    tasks.stop_task_tracing()
    before = [list(signal.receivers) for signal in django_signals]
    untraced = [len(signal.receivers) for signal in celery_signals]

    tasks.start_task_tracing()
    traced = [len(signal.receivers) for signal in celery_signals]
    tasks.stop_task_tracing()

    assert traced == [count + 1 for count in untraced]
    assert [len(signal.receivers) for signal in celery_signals] == untraced
    assert [list(signal.receivers) for signal in django_signals] == before


def test_a_failing_receiver_of_ours_leaves_the_run_untouched(
    celery_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    class OpeningFailed(Exception):
        pass

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OpeningFailed("injected")

    monkeypatch.setattr(tasks, "_open", fail)

    result = celery_app.file_author.apply(args=("ada",))

    assert result.successful()
    assert get_store().entries("task") == []


# ------------------------------------------------------------- a real worker


class CeleryWorker:
    """The worker subprocess and what it shares with the test process."""

    def __init__(self, worker: shared.Worker, database: Path, folder: Path) -> None:
        self.worker = worker
        self.database = database
        self.folder = folder

    def wait_for_run(self, task_id: str) -> HistoryEntry:
        """The trace of the run of *task_id*, once the worker has kept it."""
        return self.worker.wait_for(
            f"trace of task {task_id}", lambda: get_store().for_task(task_id)
        )


@pytest.fixture(scope="module")
def celery_worker(
    tmp_path_factory: pytest.TempPathFactory, celery_app: ModuleType
) -> Iterator[CeleryWorker]:
    """A Celery worker, the same for the module's tests (it takes a second to start)."""
    root = tmp_path_factory.mktemp("celery")
    database, folder = root / "shared.sqlite3", root / "broker"
    folder.mkdir()
    shared.migrate(database)
    command = [
        sys.executable,
        *("-m", "celery", "-A", "tests.tasks_app.celery_app", "worker"),
        *("--pool=solo", "--without-gossip", "--without-mingle"),
        *("--without-heartbeat", "--loglevel=INFO", "--hostname=signaltrace@test"),
    ]
    env = shared.environment(database, SIGNALTRACE_CELERY_FOLDER=str(folder))
    with shared.Worker(command, env, root / "worker.log") as worker:
        worker.wait_for(
            "the worker ready",
            lambda: " ready." in worker.output() or None,
            timeout=90,
        )
        yield CeleryWorker(worker, database, folder)
        # Its warm shutdown waits for two polls of the broker folder (4 s):
        # nothing is left to finish.
        worker.stop(grace=0.5)
    celery_app.app.close()


@pytest.fixture
def worker(
    celery_worker: CeleryWorker, celery_app: ModuleType, django_db_blocker: Any
) -> Iterator[CeleryWorker]:
    """The worker, with the test process publishing to it and sharing its history."""
    folder = str(celery_worker.folder)
    celery_app.app.conf.update(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": f"{folder}/control",
        },
        task_ignore_result=True,
    )
    with (
        shared.shared_database(
            celery_worker.database, SIGNALTRACE={"HISTORY_STORE": "database"}
        ),
        django_db_blocker.unblock(),
    ):
        get_store().clear()  # of the module's earlier tests
        tasks.stop_task_tracing()
        tasks.start_task_tracing()
        yield celery_worker


def publish(client: Client, name: str, *, fail: bool = False) -> str:
    response = client.get(f"/publish/{name}/", {"fail": "1"} if fail else {})
    assert response.status_code == 200
    task_id: str = response.json()["id"]
    return task_id


def test_a_workers_run_is_kept_in_the_shared_history_with_what_it_sent(
    worker: CeleryWorker, client: Client
) -> None:
    task_id = publish(client, "ada")

    entry = worker.wait_for_run(task_id)

    assert (entry.kind, entry.name, entry.outcome) == (
        "task",
        FILE_AUTHOR,
        "SUCCESSFUL",
    )
    # What the task itself sent, in the worker: the author's post_save
    # (RECORD_UNRECEIVED in the worker's settings) and author_filed.
    names = signal_names(entry)
    assert names.index("post_save") < names.index("author_filed")
    assert f"task {FILE_AUTHOR} SUCCESSFUL: sends=" in worker.worker.output()


def test_the_request_that_published_a_task_links_to_the_workers_run(
    worker: CeleryWorker, client: Client
) -> None:
    task_id = publish(client, "ada")
    (request,) = get_store().entries("request")
    assert request.tasks == [{"name": FILE_AUTHOR, "id": task_id}]

    entry = worker.wait_for_run(task_id)

    page = client.get(f"/__signaltrace__/{request.id}/").content.decode()
    assert f'href="/__signaltrace__/{entry.id}/"' in page


def test_a_workers_failed_run_is_kept_as_failed(
    worker: CeleryWorker, client: Client
) -> None:
    task_id = publish(client, "bob", fail=True)

    entry = worker.wait_for_run(task_id)

    assert (entry.name, entry.outcome) == (FAIL, "FAILED")
    assert "author_filed" in signal_names(entry)
