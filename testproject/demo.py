"""Run the demo site: runserver and, beside it, the worker of its tasks.

``make demo`` runs this after ``migrate`` and ``load_demo``. Like a
Procfile, with a process per line::

    web:     manage.py runserver 127.0.0.1:8000
    worker:  manage.py db_worker

The worker (django-tasks-db's) runs only when the settings give the tasks its
database backend (see ``TASKS`` in testproject/settings.py). Both print to
this terminal; Ctrl-C stops both, and so does either one exiting.

    python demo.py [ADDRPORT] [runserver options]
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANAGE = [sys.executable, str(HERE / "manage.py")]


def processes(runserver: list[str]) -> dict[str, list[str]]:
    """The commands to run, by name."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    sys.path.insert(0, str(HERE))
    import django
    from django.conf import settings

    django.setup()
    commands = {"web": [*MANAGE, "runserver", *(runserver or ["127.0.0.1:8000"])]}
    backend = getattr(settings, "TASKS", {}).get("default", {}).get("BACKEND", "")
    if backend.startswith("django_tasks_db."):
        commands["worker"] = [*MANAGE, "db_worker", "--interval", "0.5"]
    return commands


def stop(running: dict[str, subprocess.Popen[bytes]]) -> None:
    """End every process and what it started (a reloader's child): politely
    first, then not."""
    for process in running.values():
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in running.values():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main(arguments: list[str]) -> int:
    """Run the processes until Ctrl-C (or SIGTERM), or until one exits."""
    running: dict[str, subprocess.Popen[bytes]] = {}
    # SIGTERM (a process manager, a test) stops the demo as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for name, command in processes(arguments).items():
            # A session of its own: Ctrl-C reaches this script only, which
            # then stops each process with everything it started.
            running[name] = subprocess.Popen(command, cwd=HERE, start_new_session=True)
            shown = " ".join(["manage.py", *command[len(MANAGE) :]])
            print(f"demo: {name} (pid {running[name].pid}): {shown}", flush=True)
        while all(process.poll() is None for process in running.values()):
            time.sleep(0.2)
        ended = next(
            name for name, process in running.items() if process.poll() is not None
        )
        print(f"demo: {ended} exited; stopping the rest", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping", flush=True)
        return 0
    finally:
        stop(running)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
