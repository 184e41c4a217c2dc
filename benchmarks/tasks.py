"""What ``TRACE_TASKS`` adds to a task run, with the memory and the database store.

Runs tasks through the immediate backend of Django's tasks framework (the
``django-tasks`` backport before Django 6), in this process, against an
SQLite file in a temporary directory: an empty task, and one making ten sends
to one receiver. Prints the median of seven batches, in microseconds per run,
with task tracing off and on, for the ``"memory"`` and ``"database"`` history
stores.

    python benchmarks/tasks.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

BACKEND = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
DIRECTORY = tempfile.mkdtemp(prefix="signaltrace-bench-")

settings.configure(
    DEBUG=False,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "signaltrace"]
    + ([] if django.VERSION >= (6, 0) else ["django_tasks"]),
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": f"{DIRECTORY}/bench.sqlite3",
        }
    },
    SIGNALTRACE={"TRACE_TASKS": False},
    USE_TZ=True,
    TASKS={"default": {"BACKEND": f"{BACKEND}.backends.immediate.ImmediateBackend"}},
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.dispatch import Signal  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

if django.VERSION >= (6, 0):
    from django.tasks import task
else:
    from django_tasks import task

from signaltrace import tasks  # noqa: E402
from signaltrace.history import get_store  # noqa: E402

step = Signal()


def on_step(sender: object, **kwargs: Any) -> None:
    pass


@task
def empty() -> None:
    pass


@task
def ten_sends() -> None:
    for number in range(10):
        step.send(sender=None, number=number)


def per_run(work: Any, runs: int) -> float:
    """Median of 7 batches, microseconds per run."""
    batches = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(runs):
            work.enqueue()
        batches.append((time.perf_counter() - started) / runs * 1e6)
    return statistics.median(batches)


def main() -> None:
    call_command("migrate", verbosity=0)
    step.connect(on_step)
    for store in ("memory", "database"):
        with override_settings(
            SIGNALTRACE={"TRACE_TASKS": False, "HISTORY_STORE": store}
        ):
            for name, work in (
                ("empty task", empty),
                ("task with 10 sends", ten_sends),
            ):
                runs = 300 if store == "database" else 2000
                per_run(work, 200)
                off = per_run(work, runs)
                tasks.start_task_tracing()
                per_run(work, 200)
                on = per_run(work, runs)
                tasks.stop_task_tracing()
                get_store().clear()
                print(
                    f"{store:8} {name:20} off {off:8.1f} µs  "
                    f"on {on:8.1f} µs  +{on - off:7.1f} µs"
                )


if __name__ == "__main__":
    main()
