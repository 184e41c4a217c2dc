"""The pytest plugin: the ``signal_trace`` fixture, ``--signaltrace`` and snapshots.

Installing the package registers it (the ``pytest11`` entry point), next to
pytest-django when that is installed. pytest loads it in every run of every
project, so a run that neither asks for signals nor takes a snapshot imports
no Django module: at import time and for every test, this module uses only
pytest and :mod:`signaltrace.snapshot_files`.

- ``signal_trace``: a :class:`~signaltrace.trace.Trace` of the test body (the
  call of the test function: not the setup of other fixtures, so the result
  does not depend on fixture order), with sends that reach no receiver
  recorded too.
- ``--signaltrace`` (or ``signaltrace = true`` in the ini file): every test's
  body is traced, and a failing test's report gets a "Captured signals call"
  section in the format of :mod:`signaltrace.snapshot`.
- ``--signaltrace-update``: rewrite snapshots that differ.
- ``signaltrace_snapshot_exclude`` and ``signaltrace_snapshot_normalize`` (ini
  options, for the whole project) and the ``signaltrace_snapshot`` marker (for
  a module, a class or a test): the
  :class:`~signaltrace.snapshot_files.SnapshotOptions` of the snapshots.

Snapshot files: ``__signals__/<test module name>/<test name>.txt`` next to the
test module, where the test name is the item's name prefixed by its classes,
dot-separated, with parameters: ``TestCheckout.test_pay[card-EUR].txt``.
Characters other than ASCII letters, digits and ``_.,=+-[]()`` become ``_``,
and a short hash of the real name is then appended (as it is to names over
120 characters), so that two tests never share a file. A second snapshot in
the same test goes to ``<name>.2.txt``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from signaltrace.snapshot_files import SnapshotOptions, SnapshotTarget, targeting

if TYPE_CHECKING:
    from signaltrace.assertions import SignalTrace
    from signaltrace.capturing import capture

__all__ = ["signal_trace"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+\-\[\]()]")
_MAX_NAME = 120
#: A line of ``signaltrace_snapshot_normalize``: the last `` -> `` separates
#: the pattern (which may hold an arrow itself) from its replacement.
_RULE = re.compile(r"(?P<pattern>.*\S)\s+->(?:\s+(?P<replacement>.*))?")
_MARKER = "signaltrace_snapshot"


@dataclass
class _ItemState:
    """What the plugin keeps for one test item."""

    #: The ``signal_trace`` fixture's capture, once set up.
    fixture: capture | None = None
    #: The capture whose trace a failing test's report shows.
    reported: capture | None = None
    #: Whether the test function is being called.
    in_call: bool = False
    #: The captures recording the test function's call, innermost last.
    active: list[capture] = field(default_factory=list)
    #: Where the test's snapshots go, from the start of its protocol.
    target: SnapshotTarget | None = None

    def start(self, capturing: capture) -> None:
        """Record into *capturing* from now until :meth:`stop_all`."""
        capturing.__enter__()
        self.active.append(capturing)

    def stop_all(self) -> None:
        """End every capture started by :meth:`start`, innermost first."""
        while self.active:
            self.active.pop().__exit__(None, None, None)


_state_key = pytest.StashKey[_ItemState]()
_notes_key = pytest.StashKey[list[str]]()
_options_key = pytest.StashKey[SnapshotOptions]()


def _state(item: pytest.Item) -> _ItemState:
    state = item.stash.get(_state_key, None)
    if state is None:
        state = item.stash[_state_key] = _ItemState()
    return state


def _test_capture() -> capture:
    from signaltrace.testing import capture_signals

    return capture_signals()


def _reports_enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("signaltrace") or config.getini("signaltrace"))


# --------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--signaltrace``, ``--signaltrace-update`` and the ini option."""
    group = parser.getgroup("signaltrace", "django-signaltrace")
    group.addoption(
        "--signaltrace",
        action="store_true",
        default=False,
        help="Trace the signals of every test and show them in failure reports.",
    )
    group.addoption(
        "--signaltrace-update",
        action="store_true",
        default=False,
        help="Rewrite signal snapshots that differ instead of failing.",
    )
    parser.addini(
        "signaltrace",
        type="bool",
        default=False,
        help="Like --signaltrace: show the signals of failing tests.",
    )
    parser.addini(
        "signaltrace_snapshot_exclude",
        type="linelist",
        default=[],
        help="Signals that snapshots leave out, one name per line "
        "(a bare name matches the last part of the dotted path).",
    )
    parser.addini(
        "signaltrace_snapshot_normalize",
        type="linelist",
        default=[],
        help="Replacements made in each line of snapshots, one "
        "'REGEX -> REPLACEMENT' per line.",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and read the snapshot options of the ini file."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(exclude=(), normalize=None): leave signals out of this "
        "test's signal snapshots, or normalise their lines (django-signaltrace).",
    )
    config.stash[_options_key] = _ini_options(config)


def _ini_options(config: pytest.Config) -> SnapshotOptions:
    rules: dict[str, str] = {}
    for line in config.getini("signaltrace_snapshot_normalize"):
        match = _RULE.fullmatch(line.strip())
        if match is None:
            raise pytest.UsageError(
                f"signaltrace_snapshot_normalize: expected 'REGEX -> REPLACEMENT', "
                f"got {line!r}."
            )
        rules[match["pattern"]] = match["replacement"] or ""
    try:
        return SnapshotOptions(
            exclude=config.getini("signaltrace_snapshot_exclude"), normalize=rules
        )
    except ValueError as error:
        raise pytest.UsageError(f"signaltrace_snapshot_normalize: {error}") from None


# --------------------------------------------------------------------- fixture


@pytest.fixture
def signal_trace(request: pytest.FixtureRequest) -> SignalTrace:
    """The signals sent by the test body, with the ``assert_*`` methods::

        def test_signup(client, signal_trace):
            client.post("/signup/", {"username": "ada"})
            signal_trace.assert_sent_once(post_save, sender=User, created=True)

    The trace of :func:`signaltrace.testing.capture_signals` around the test
    function's call (not the setup of other fixtures): sends that reach no
    receiver are recorded too, and the live values are kept.
    """
    state = _state(request.node)
    capturing = state.fixture = _test_capture()
    if state.in_call:  # requested with getfixturevalue() from the test body
        state.start(capturing)
    return capturing.trace


# ----------------------------------------------------------------------- hooks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Point ``assert_matches_snapshot()`` at this test's files while it runs."""
    target = _state(item).target = _snapshot_target(item)
    with targeting(target):
        try:
            return (yield)
        finally:
            if target.notes:
                item.config.stash.setdefault(_notes_key, []).extend(target.notes)
            # Items live as long as the session: let the trace and the objects
            # its kwargs hold go with the test.
            if _state_key in item.stash:
                del item.stash[_state_key]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Add the test's ``signaltrace_snapshot`` markers to its snapshot options.

    Read here rather than with the target, so that a wrong marker is an error
    of its test, not of the run. The markers nearest the test apply last.
    """
    state = item.stash.get(_state_key, None)
    if state is None or state.target is None:
        return
    # From the ini options each time: a plugin that runs the setup again
    # (reruns) must not apply the markers twice.
    options = item.config.stash.get(_options_key, SnapshotOptions())
    for mark in reversed(list(item.iter_markers(_MARKER))):
        unknown = sorted(set(mark.kwargs) - {"exclude", "normalize"})
        if mark.args or unknown:
            given = ", ".join([*map(repr, mark.args), *(f"{k}=" for k in unknown)])
            pytest.fail(
                f"@pytest.mark.{_MARKER} takes exclude= and normalize= only, "
                f"got {given}.",
                pytrace=False,
            )
        try:
            options = options.extended(**mark.kwargs)
        except (TypeError, ValueError) as error:
            pytest.fail(f"@pytest.mark.{_MARKER}: {error}", pytrace=False)
    state.target.options = options


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Record the test body into the fixture's trace, or a new one for reports."""
    state = _state(item)
    capturing = state.fixture
    if capturing is None and _reports_enabled(item.config):
        capturing = _test_capture()
    state.reported = capturing
    state.in_call = True
    if capturing is not None:
        state.start(capturing)
    try:
        return (yield)
    finally:
        state.in_call = False
        state.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add the signals of a failing test to its report, with ``--signaltrace``."""
    report = yield
    if call.when == "call" and report.failed and _reports_enabled(item.config):
        state = item.stash.get(_state_key, None)
        if state is not None and state.reported is not None:
            from signaltrace.snapshot import render

            trace = state.reported.trace
            # Every send: the snapshot options hide what a failure may need.
            text = render(
                trace.events, dropped=trace.dropped, options=SnapshotOptions()
            )
            report.sections.append(("Captured signals call", text))
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """List the snapshot files this run wrote or rewrote."""
    notes = config.stash.get(_notes_key, [])
    if notes:
        terminalreporter.ensure_newline()
        terminalreporter.section("signaltrace snapshots")
        for note in notes:
            terminalreporter.line(note)


# ------------------------------------------------------------------- snapshots


def _snapshot_target(item: pytest.Item) -> SnapshotTarget:
    directory = item.path.parent / "__signals__" / item.path.stem
    return SnapshotTarget(
        directory,
        _snapshot_name(item),
        update=bool(item.config.getoption("signaltrace_update")),
        options=item.config.stash.get(_options_key, SnapshotOptions()),
    )


def _snapshot_name(item: pytest.Item) -> str:
    """Return the file name (without ``.txt``) of *item*'s first snapshot."""
    chain = item.listchain()
    files = [index for index, node in enumerate(chain) if isinstance(node, pytest.File)]
    start = files[-1] + 1 if files else len(chain) - 1
    name = ".".join(node.name for node in chain[start:])
    safe = _UNSAFE.sub("_", name)
    if safe != name or len(safe) > _MAX_NAME:
        digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
        safe = f"{safe[: _MAX_NAME - 9]}-{digest}"
    return safe
