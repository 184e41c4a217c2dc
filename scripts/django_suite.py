"""Run Django's own signal-related tests bare and traced: they must agree exactly.

The strongest evidence that tracing never changes the traced program is
Django's own test suite. It ships in Django's source distribution, so this
script:

1. finds the installed Django version and downloads that exact sdist
   (``pip download --no-binary :all: --no-deps django==X``, network needed);
2. extracts its ``tests/`` directory to ``.django-suite/django-X/tests/``
   (kept as a cache: later runs skip steps 1 and 2);
3. runs ``tests/runtests.py`` on the modules in ``LABELS`` (those the issue
   names) and ``EXTRA_LABELS`` (more model-signal users) three times, each
   in a fresh process (``scripts/django_suite_runner.py``):

   - ``bare``: no tracing at all;
   - ``traced``: every test wrapped in ``signaltrace.capture(record_unreceived=True)``
     (the wrappers are installed and removed around each test);
   - ``session``: the same, inside one more capture around the whole run
     (database creation, class-level set-up and fixtures traced too);

4. compares the outcome of every test, by id, and prints a summary.

It exits with 1 when a traced run differs from the bare run in any way: a test
with another outcome (ok, FAIL, ERROR, skipped, expected failure, unexpected
success), a failure with another exception message, another number of tests,
another exit status. It also exits with 1 when a traced run recorded no event
at all or its self-checks failed (a test that ran outside a capture, no wrapper
inside a capture, a wrapper left on ``Signal`` after the last capture), so a
run that silently traced nothing cannot pass.

Failures of bare Django itself: when the bare run has failures in this
environment (a missing optional dependency, no network, an OS quirk), they are
not signaltrace's to fix, and what this script proves is that tracing changes
nothing. So they are listed, and the traced runs must fail in exactly the same
tests with the same exception messages; the script then exits with 0, saying
so in the summary. With ``--strict`` any failure fails the script.

Usage::

    python scripts/django_suite.py                   # LABELS + EXTRA_LABELS
    python scripts/django_suite.py dispatch signals  # only these modules
    python scripts/django_suite.py --runs bare,traced dispatch

Tests run with ``--parallel=1``: the tracing patch lives in the test process
(see the runner's docstring for why worker processes would not be traced).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".django-suite"
RUNNER = Path(__file__).resolve().parent / "django_suite_runner.py"

#: The modules of Django's suite that exercise signals and the code around them.
LABELS = [
    "dispatch",
    "signals",
    "m2m_signals",
    "migrate_signals",
    "delete",
    "delete_regress",
    "auth_tests.test_signals",
    "handlers",
    "asgi",
    "requests_tests",
    "test_client",
    "save_delete_hooks",
    "fixtures",
]
#: More modules that send model signals a lot and run in a few seconds.
EXTRA_LABELS = [
    "contenttypes_tests",
    "generic_relations",
    "many_to_many",
    "model_inheritance",
    "proxy_models",
    "sessions_tests",
    "test_utils",
]
RUNS = ("bare", "traced", "session")


@dataclass
class Run:
    """The report of one run of ``runtests.py`` (see the runner)."""

    mode: str
    exit_code: int
    duration: float
    tests_run: int | None
    outcomes: dict[str, str]
    details: dict[str, str]
    tracing: dict[str, Any] | None

    @classmethod
    def load(cls, path: Path) -> Run:
        """Read a report written by the runner."""
        return cls(**json.loads(path.read_text()))

    @property
    def failed(self) -> dict[str, str]:
        """Tests (and subtests) whose outcome counts as a failure, with it."""
        return {
            test_id: outcome
            for test_id, outcome in self.outcomes.items()
            if outcome in {"FAIL", "ERROR", "unexpected success"}
        }

    def tally(self) -> str:
        """``"500 ok, 3 skipped"``: the number of tests per outcome."""
        counts = Counter(self.outcomes.values())
        return ", ".join(f"{count} {outcome}" for outcome, count in counts.items())


def fetch_tests(version: str) -> Path:
    """Return the ``tests/`` directory of Django *version*'s sdist, fetching it once."""
    target = CACHE / f"django-{version}"
    tests = target / "tests"
    if (tests / "runtests.py").is_file():
        return tests
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as download:
        fetched = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"django=={version}",
                "-d",
                download,
            ],
            check=False,
        )
        if fetched.returncode:
            raise SystemExit(
                f"Could not download Django {version}'s sdist from PyPI (see above)."
            )
        (archive,) = Path(download).glob("*.tar.gz")
        partial = Path(download) / "extracted"
        with tarfile.open(archive) as sdist:
            # Keep only <top>/tests/..., as tests/... under the target.
            members = []
            for member in sdist.getmembers():
                _, _, rest = member.name.partition("/")
                if rest == "tests" or rest.startswith("tests/"):
                    member.name = rest
                    members.append(member)
            if not members:
                raise SystemExit(f"{archive.name} has no tests/ directory")
            if hasattr(tarfile, "data_filter"):
                sdist.extractall(partial, members=members, filter="data")
            else:  # Python < 3.11.4 has no extraction filters
                sdist.extractall(partial, members=members)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # only a complete extraction becomes the cache
    return tests


def run(mode: str, tests: Path, labels: list[str], reports: Path) -> Run:
    """Run ``runtests.py`` in a fresh process in *mode* and return its report."""
    report = reports / f"{mode}.json"
    report.unlink(missing_ok=True)
    print(f"\n=== {mode} run ===", flush=True)
    subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            mode,
            str(report),
            str(tests),
            "--",
            "--parallel=1",
            "--noinput",
            *labels,
        ],
        check=False,
    )
    if not report.is_file():
        raise SystemExit(f"The {mode} run crashed before writing its report.")
    return Run.load(report)


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def exception_line(traceback_text: str) -> str:
    """The last line of a traceback, with memory addresses blanked out."""
    lines = traceback_text.strip().splitlines()
    return _ADDRESS.sub("0x…", lines[-1]) if lines else ""


def differences(bare: Run, traced: Run) -> list[str]:
    """Every way in which *traced* did not behave as *bare*."""
    found = []
    if traced.tests_run != bare.tests_run:
        found.append(f"tests run: bare {bare.tests_run}, traced {traced.tests_run}")
    if (traced.exit_code == 0) != (bare.exit_code == 0):
        found.append(f"exit status: bare {bare.exit_code}, traced {traced.exit_code}")
    for test_id in sorted(bare.outcomes.keys() | traced.outcomes.keys()):
        was = bare.outcomes.get(test_id, "not run")
        now = traced.outcomes.get(test_id, "not run")
        if was != now:
            found.append(f"{test_id}: bare {was}, traced {now}")
            if test_id in traced.details and now in {"FAIL", "ERROR"}:
                found.append(_indent(traced.details[test_id]))
        elif now in {"FAIL", "ERROR"}:
            was_line = exception_line(bare.details.get(test_id, ""))
            now_line = exception_line(traced.details.get(test_id, ""))
            if was_line != now_line:
                found.append(
                    f"{test_id}: {now} in both, bare {was_line!r}, traced {now_line!r}"
                )
                found.append(_indent(traced.details.get(test_id, "")))
    return found


def tracing_problems(traced: Run) -> list[str]:
    """Reasons to believe that a traced run did not really trace."""
    tracing = traced.tracing or {}
    problems = list(tracing.get("problems", []))
    if not tracing.get("events"):
        problems.append("no event recorded in any test: the wrappers were not active")
    return problems


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.rstrip().splitlines())


def _describe_tracing(run: Run) -> str:
    tracing = run.tracing or {}
    line = (
        f"recorded {tracing.get('events', 0):,} events of "
        f"{len(tracing.get('signals', {}))} signals in "
        f"{tracing.get('traced_tests', 0)} of {tracing.get('tests', 0)} tests"
    )
    if tracing.get("dropped"):
        line += f" ({tracing['dropped']:,} more over MAX_EVENTS, counted as dropped)"
    session = tracing.get("session")
    if session:
        total = session["events"] + session["dropped"] + session["counted"]
        line += f"; the session capture saw {total:,} sends"
    return line


def _runs(value: str) -> list[str]:
    runs = [run.strip() for run in value.split(",") if run.strip()]
    unknown = set(runs) - set(RUNS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown runs: {', '.join(sorted(unknown))}")
    return runs


def main(argv: list[str] | None = None) -> int:
    """Fetch the tests, run them bare and traced, compare, summarize."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "labels",
        nargs="*",
        help="test modules to run (default: LABELS and EXTRA_LABELS)",
    )
    parser.add_argument(
        "--runs",
        type=_runs,
        default=list(RUNS),
        help="comma-separated runs to make, of bare,traced,session (default: all; "
        "bare always runs, first)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail on any failure, even one that bare Django has too",
    )
    options = parser.parse_args(argv)
    labels = options.labels or [*LABELS, *EXTRA_LABELS]
    modes = ["bare", *(mode for mode in options.runs if mode != "bare")]

    version = importlib.metadata.version("django")
    tests = fetch_tests(version)
    reports = tests.parent / "reports"
    reports.mkdir(exist_ok=True)
    runs = [run(mode, tests, labels, reports) for mode in modes]
    bare, traced_runs = runs[0], runs[1:]

    failing = False
    print(
        f"\nDjango {version} on Python {platform.python_version()}: "
        f"{len(bare.outcomes)} tests in {len(labels)} modules"
    )
    for each in runs:
        ratio = f" ({each.duration / bare.duration:.2f}x)" if each is not bare else ""
        print(
            f"  {each.mode + ':':8} {each.tally()} "
            f"in {each.duration:.1f} s{ratio}, exit status {each.exit_code}"
        )
    if bare.tests_run is None or not bare.outcomes:
        print("  The bare run ran no test: see its output above.")
        return 1
    if bare.failed:
        print(f"  Bare Django fails {len(bare.failed)} tests in this environment:")
        for test_id, outcome in sorted(bare.failed.items()):
            print(f"    {outcome}: {test_id}: {exception_line(bare.details[test_id])}")
        if options.strict:
            failing = True
    for traced in traced_runs:
        print(f"  {traced.mode}: {_describe_tracing(traced)}")
        found = differences(bare, traced) + tracing_problems(traced)
        if found:
            failing = True
            print(f"  {traced.mode} differs from bare ({len(found)}):")
            for line in found:
                print(f"    {line}")
        else:
            print(f"  {traced.mode}: every test has the same outcome as bare.")
    if failing:
        print("FAILED")
        return 1
    if bare.failed:
        print("PASSED (tracing changed nothing; bare Django's own failures above)")
    else:
        print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
