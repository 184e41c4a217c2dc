"""Run Django's ``tests/runtests.py`` once, bare or traced, and report every outcome.

Used by ``scripts/django_suite.py``, one process per run::

    python scripts/django_suite_runner.py MODE REPORT.json TESTS_DIR -- ARGS...

``ARGS`` go to ``runtests.py`` unchanged. Every mode collects outcomes the same
way, so the only difference between runs is the tracing:

- ``bare`` traces nothing.

- ``traced`` wraps every test in ``signaltrace.capture(record_unreceived=True)``.
  The capture opens in the test's ``__call__``, so it covers Django's own
  per-test work (fixture loading, ``setUp``, the test, ``tearDown``, the
  rollback or flush) and not only the test method. It also checks, for every
  test, that the wrappers were installed inside the capture and that
  ``Signal``'s methods were Django's own again after it, and counts what the
  captures recorded: a run that traced nothing cannot pass. The wrappers are
  thus installed and removed once per test.
- ``session`` does the same inside one more capture (default settings, so at
  most 10,000 stored events) around the whole run: test database creation and
  its migrations, class-level set-up and fixtures are traced too, every test
  capture is a nested one, and the wrappers stay installed throughout.

The report (JSON) holds the outcome of every test by id, the tracebacks of
failures and errors, the number of tests that ran, the duration of the run and,
for ``traced``, what was recorded.

Test processes: the tracing patch lives in this process, so ``--parallel=1`` is
required. Worker processes started with ``spawn`` or ``forkserver`` (macOS,
Windows, Python 3.14's default on Linux) would run untraced tests, and forked
workers could not send their counts back.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import runpy
import sys
import time
import unittest
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODES = ("bare", "traced", "session")


def _patch(owner: type, name: str, make: Callable[[Any], Any]) -> None:
    """Replace ``owner.name`` by ``make(original)``, keeping the original's metadata."""
    original = owner.__dict__[name]
    setattr(owner, name, functools.wraps(original)(make(original)))


class Collector:
    """Records the outcome of every test of the run, keyed by test id."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}
        self.details: dict[str, str] = {}
        self.result: unittest.TestResult | None = None
        #: Ids of the test cases that reported an outcome (not subtests, nor
        #: the stand-ins unittest reports class and module set-up errors with).
        self.test_ids: set[str] = set()

    def install(self) -> None:
        """Patch ``unittest.TestResult`` so that every outcome passes through here.

        Django's result classes (and unittest's text result) call these base
        methods through ``super()``, so one patch sees every outcome. Only the
        outcomes reported to the run's own result count (the first result a
        ``TextTestRunner`` makes): some of Django's tests run test cases of
        their own into results they make.
        """
        collector = self

        def make_result(original: Any) -> Any:
            def _makeResult(runner: unittest.TextTestRunner) -> unittest.TestResult:
                result: unittest.TestResult = original(runner)
                if collector.result is None:
                    collector.result = result
                return result

            return _makeResult

        _patch(unittest.TextTestRunner, "_makeResult", make_result)

        def recording(outcome: str) -> Callable[[Any], Any]:
            def make(original: Any) -> Any:
                def add(result: unittest.TestResult, test: Any, *args: Any) -> Any:
                    if result is collector.result:
                        detail = args[0] if args else None
                        collector.add(result, test, outcome, detail)
                    return original(result, test, *args)

                return add

            return make

        for name, outcome in [
            ("addSuccess", "ok"),
            ("addFailure", "FAIL"),
            ("addError", "ERROR"),
            ("addSkip", "skipped"),
            ("addExpectedFailure", "expected failure"),
            ("addUnexpectedSuccess", "unexpected success"),
        ]:
            _patch(unittest.TestResult, name, recording(outcome))

        def sub_test(original: Any) -> Any:
            def addSubTest(
                result: unittest.TestResult, test: Any, subtest: Any, error: Any
            ) -> Any:
                if error is not None and result is collector.result:
                    failed = issubclass(error[0], test.failureException)
                    collector.add(result, subtest, "FAIL" if failed else "ERROR", error)
                return original(result, test, subtest, error)

            return addSubTest

        _patch(unittest.TestResult, "addSubTest", sub_test)

    @property
    def tests_run(self) -> int | None:
        """How many tests the run reported, or None if it never started."""
        return self.result.testsRun if self.result is not None else None

    def add(
        self, result: unittest.TestResult, test: Any, outcome: str, detail: Any
    ) -> None:
        """Record one outcome; failures keep their traceback, skips their reason."""
        test_id = test.id()
        self.outcomes[test_id] = outcome
        # Subtests are TestCases too; unittest's _ErrorHolder is not one.
        if isinstance(test, unittest.TestCase) and type(test).__name__ != "_SubTest":
            self.test_ids.add(test_id)
        if isinstance(detail, tuple):  # exc_info of a failure or an error
            # Formatted as unittest prints it, without unittest's own frames.
            self.details[test_id] = result._exc_info_to_string(detail, test)  # type: ignore[attr-defined]
        elif isinstance(detail, str):  # reason of a skip
            self.details[test_id] = detail


class Tracer:
    """Wraps every test in a capture and checks that the capture really traced."""

    def __init__(self) -> None:
        self.events = 0
        self.counted = 0
        self.dropped = 0
        self.traced_tests = 0
        self.tests = 0
        self.signals: Counter[str] = Counter()
        self.captured: set[str] = set()
        self.problems: list[str] = []
        self.session: dict[str, int] | None = None

    def install(self) -> None:
        """Wrap ``__call__`` of unittest's and Django's test case classes.

        ``SimpleTestCase.__call__`` runs Django's set-up and tear-down around
        unittest's ``TestCase.__call__``; patching both, with the outer one
        opening the capture, traces all of it whatever the test's base class.
        """
        # Imported here so that the bare run never imports signaltrace.
        from django.dispatch import Signal
        from django.test import SimpleTestCase

        import signaltrace
        from signaltrace import context, install

        originals = {
            name: Signal.__dict__[name]
            for name in ("send", "send_robust", "asend", "asend_robust")
            if name in Signal.__dict__
        }
        inside = contextvars.ContextVar("django_suite_inside_test", default=False)
        tracer = self

        def traced(original: Any) -> Any:
            def __call__(test: unittest.TestCase, *args: Any, **kwargs: Any) -> Any:
                if inside.get():  # SimpleTestCase.__call__ calling up to unittest's
                    return original(test, *args, **kwargs)
                token = inside.set(True)
                try:
                    with signaltrace.capture(record_unreceived=True) as trace:
                        if not install.is_installed():
                            tracer.problems.append(
                                f"{test.id()}: no wrapper installed inside capture()"
                            )
                        outcome = original(test, *args, **kwargs)
                finally:
                    inside.reset(token)
                tracer.tally(test, trace)
                if not context.active_traces():
                    for name, function in originals.items():
                        if Signal.__dict__[name] is not function:
                            tracer.problems.append(
                                f"{test.id()}: Signal.{name} is not Django's own "
                                "after the last capture ended"
                            )
                return outcome

            return __call__

        _patch(unittest.TestCase, "__call__", traced)
        _patch(SimpleTestCase, "__call__", traced)

    def tally(self, test: unittest.TestCase, trace: Any) -> None:
        """Add one test's trace to the totals."""
        self.tests += 1
        self.captured.add(test.id())
        recorded = len(trace.events) + trace.dropped + sum(trace.counts.values())
        if recorded:
            self.traced_tests += 1
        self.events += len(trace.events)
        self.dropped += trace.dropped
        self.counted += sum(trace.counts.values())
        self.signals.update(event.name for event in trace.events)

    def report(self) -> dict[str, Any]:
        """The totals, for the JSON report."""
        return {
            "tests": self.tests,
            "traced_tests": self.traced_tests,
            "events": self.events,
            "counted": self.counted,
            "dropped": self.dropped,
            "signals": dict(self.signals.most_common()),
            "problems": self.problems,
            "session": self.session,
        }

    def check(self, collector: Collector) -> None:
        """Note every test that reported an outcome without having been captured."""
        for test_id in sorted(collector.test_ids - self.captured):
            self.problems.append(f"{test_id}: ran without a capture")


def run(mode: str, report_path: Path, tests_dir: Path, arguments: list[str]) -> int:
    """Run ``runtests.py`` with *arguments* in this process and write the report."""
    runtests = tests_dir / "runtests.py"
    # What running ``python runtests.py`` would set up.
    sys.argv = [str(runtests), *arguments]
    sys.path[0] = str(tests_dir)

    collector = Collector()
    collector.install()
    tracer = None if mode == "bare" else Tracer()
    if tracer is not None:
        tracer.install()

    started = time.perf_counter()
    exit_code = 0
    with contextlib.ExitStack() as stack:
        if mode == "session":
            import signaltrace

            session = stack.enter_context(signaltrace.capture(record_unreceived=True))
        try:
            runpy.run_path(str(runtests), run_name="__main__")
        except SystemExit as exit:
            exit_code = exit.code if isinstance(exit.code, int) else 1
    duration = time.perf_counter() - started
    if tracer is not None:
        tracer.check(collector)
    if tracer is not None and mode == "session":
        tracer.session = {
            "events": len(session.events),
            "dropped": session.dropped,
            "counted": sum(session.counts.values()),
        }

    report = {
        "mode": mode,
        "exit_code": exit_code,
        "duration": duration,
        "tests_run": collector.tests_run,
        "outcomes": collector.outcomes,
        "details": collector.details,
        "tracing": tracer.report() if tracer is not None else None,
    }
    report_path.write_text(json.dumps(report, indent=1, sort_keys=True))
    return exit_code


def main(argv: list[str]) -> int:
    """Parse ``MODE REPORT TESTS_DIR -- ARGS...`` and run."""
    if len(argv) < 4 or argv[0] not in MODES or argv[3] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    mode, report, tests_dir = argv[:3]
    arguments = argv[4:]
    if not any(a == "--parallel=1" for a in arguments):
        print("django_suite_runner: pass --parallel=1 (see docstring)", file=sys.stderr)
        return 2
    return run(mode, Path(report), Path(tests_dir).resolve(), arguments)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
