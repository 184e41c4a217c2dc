"""The pytest plugin, run on small test suites with pytester.

Runs without a database happen in this process with pytest-django turned off
(``-p no:django``: this process's Django is already set up); runs that need
the database start a fresh pytest with pytest-django and minimal settings
holding only ``tests.app``, and the run of a project without Django starts
one without pytest-django and without settings. The plugin itself comes from
the package's ``pytest11`` entry point, so this module's own tests use the
real fixture too.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
from django.dispatch import Signal

import signaltrace
from signaltrace.assertions import SignalTrace
from tests.app.models import Author

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

ORDERS = """
from unittest.mock import ANY

import pytest
from django.dispatch import Signal, receiver

order_paid = Signal()
order_completed = Signal()
nobody_listens = Signal()


class Order:
    pass


@receiver(order_paid)
def send_receipt(sender, **kwargs):
    pass


@pytest.fixture
def paid_in_a_fixture():
    order_paid.send(sender=Order, amount=1)


def test_sent_once(signal_trace):
    order_paid.send(sender=Order, amount=10)
    event = signal_trace.assert_sent_once(order_paid, sender=Order, amount=10)
    assert [call.name for call in event.receivers] == ["test_orders.send_receipt"]


def test_signal_nobody_listens_to(signal_trace):
    nobody_listens.send(sender=None, reason="new")
    signal_trace.assert_sent(nobody_listens, sender=None, reason="new")


def test_fixture_sends_are_left_out(paid_in_a_fixture, signal_trace):
    signal_trace.assert_not_sent(order_paid)


def test_requested_from_the_test_body(request):
    order_paid.send(sender=Order, amount=0)
    trace = request.getfixturevalue("signal_trace")
    order_paid.send(sender=Order, amount=10)
    trace.assert_sent_once(order_paid, amount=ANY)


def test_sent_once_fails(signal_trace):
    order_paid.send(sender=Order, amount=10)
    signal_trace.assert_sent_once(order_completed, sender=Order)


def test_receiver_not_called_fails(signal_trace):
    order_paid.send(sender=Order, amount=10)
    signal_trace.assert_receiver_not_called(send_receipt)
"""

SHIPPING = """
import pytest
from django.dispatch import Signal, receiver

parcel_shipped = Signal()
parcel_tracked = Signal()


class Parcel:
    pass


@receiver(parcel_shipped)
def track(sender, **kwargs):
    parcel_tracked.send(sender=sender, step=STEP)


def test_ships(signal_trace):
    parcel_shipped.send(sender=Parcel, weight=2)
    signal_trace.assert_matches_snapshot()


@pytest.mark.parametrize("weight", [1, 2])
def test_weights(signal_trace, weight):
    parcel_shipped.send(sender=Parcel, weight=weight)
    signal_trace.assert_matches_snapshot()


@pytest.mark.parametrize("route", ["Paris/Lyon"])
def test_routes(signal_trace, route):
    parcel_tracked.send(sender=Parcel, route=route)
    signal_trace.assert_matches_snapshot()


class TestParcel:
    def test_twice(self, signal_trace):
        parcel_shipped.send(sender=Parcel, weight=3)
        signal_trace.assert_matches_snapshot()
        signal_trace.filter(parcel_tracked).assert_matches_snapshot()
"""

MODELS = """
import pytest
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from tests.app.models import Author, Book


@receiver(post_save, sender=Book)
def count_books(sender, instance, created, **kwargs):
    pass


@pytest.mark.django_db
def test_django_db_marker(signal_trace):
    Author.objects.create(name="Ada")
    signal_trace.assert_sent_once("post_save", sender="Author")


def test_db_fixture(db, signal_trace):
    author = Author.objects.create(name="Ada")
    signal_trace.assert_sent_once(post_save, Author, instance=author, created=True)
    signal_trace.assert_order(pre_save, post_save)
    signal_trace.assert_matches_snapshot()


def write_a_book(signal_trace):
    ada = Author.objects.create(name="Ada")
    Book.objects.create(title="Notes", author=ada)
    signal_trace.assert_sent_once(post_save, Book, instance=lambda b: b.author == ada)
    signal_trace.assert_receiver_called(count_books)
    signal_trace.assert_no_errors()
    signal_trace.assert_matches_snapshot()
    print("author pk", ada.pk)


def test_transactional(transactional_db, signal_trace):
    write_a_book(signal_trace)


def test_transactional_again(transactional_db, signal_trace):
    write_a_book(signal_trace)
"""


MODELS_SETTINGS = """
SECRET_KEY = "signaltrace-plugin-tests"
USE_TZ = True
INSTALLED_APPS = ["tests.app"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in this process, without pytest-django (Django is set up)."""
    return pytester.runpytest_inprocess("-p", "no:django", *args)


def failure_message(result: pytest.RunResult, test: str) -> str:
    """The AssertionError message pytest showed for *test*, without the ``E``s."""
    lines = result.stdout.lines
    header = re.compile(rf"_+ {re.escape(test)} _+")
    start = next(i for i, line in enumerate(lines) if header.fullmatch(line))
    shown = []
    for line in lines[start + 1 :]:
        if re.fullmatch(r"_{3,} .* _{3,}|={3,}.*", line):
            break
        if line.startswith("E"):
            shown.append(line)
    width = shown[0].index("AssertionError: ")
    message = [shown[0][width + len("AssertionError: ") :]]
    message += [line[width:] for line in shown[1:]]
    return "\n".join(message)


def section(result: pytest.RunResult, title: str) -> list[str]:
    """The lines of a report section, up to the next separator."""
    lines = result.stdout.lines
    header = re.compile(rf"[-=]+ {re.escape(title)} [-=]+")
    start = next(i for i, line in enumerate(lines) if header.fullmatch(line))
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if re.fullmatch(r"[-=_]{3,}.*", lines[i])
        ),
        len(lines),
    )
    return lines[start + 1 : end]


# ------------------------------------------------------------------- assertions


def test_fixture_assertions_pass_and_fail_with_their_messages(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_orders=ORDERS)

    result = run(pytester)

    result.assert_outcomes(passed=4, failed=2)
    assert failure_message(result, "test_sent_once_fails") == (
        "Expected test_orders.order_completed from test_orders.Order to be sent "
        "once, but it was sent 0 times.\n"
        "Sends that happened (1):\n"
        "  1. test_orders.order_paid  sender=test_orders.Order  kwargs: amount=10\n"
        "     receivers: test_orders.send_receipt"
    )
    assert failure_message(result, "test_receiver_not_called_fails") == (
        "Expected receiver test_orders.send_receipt not to be called, but it was "
        "called once.\n"
        "Sends that happened (1):\n"
        "  1. test_orders.order_paid  sender=test_orders.Order  kwargs: amount=10\n"
        "     receivers: test_orders.send_receipt"
    )


# --------------------------------------------------------------- report section

FAILING = """
from django.dispatch import Signal, receiver

order_paid = Signal()


class Order:
    pass


@receiver(order_paid)
def send_receipt(sender, **kwargs):
    pass


def test_fails():
    order_paid.send(sender=Order, amount=10)
    assert False, "checkout broke"


def test_passes():
    order_paid.send(sender=Order, amount=10)
"""

REPORTED = [
    "test_checkout.order_paid  sender=test_checkout.Order",
    "    kwargs: amount=10",
    "    -> test_checkout.send_receipt",
]


def test_signaltrace_option_adds_the_signals_to_failing_test_reports(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_checkout=FAILING)

    result = run(pytester, "--signaltrace", "-rA")

    result.assert_outcomes(passed=1, failed=1)
    assert section(result, "Captured signals call") == REPORTED
    assert result.stdout.str().count("Captured signals call") == 1


def test_signaltrace_ini_option_adds_the_signals_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checkout=FAILING)
    pytester.makeini("[pytest]\nsignaltrace = true\n")

    result = run(pytester)

    assert section(result, "Captured signals call") == REPORTED


def test_reports_have_no_signals_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checkout=FAILING)

    result = run(pytester)

    result.assert_outcomes(passed=1, failed=1)
    assert "Captured signals" not in result.stdout.str()


# -------------------------------------------------------------------- snapshots

SHIPS_SNAPSHOT = """\
test_shipping.parcel_shipped  sender=test_shipping.Parcel
    kwargs: weight=2
    -> test_shipping.track
       test_shipping.parcel_tracked  sender=test_shipping.Parcel  (no receivers)
           kwargs: step=left depot
"""

SNAPSHOT_FILES = [
    "TestParcel.test_twice.2.txt",
    "TestParcel.test_twice.txt",
    "test_routes[Paris_Lyon]-HASH.txt",
    "test_ships.txt",
    "test_weights[1].txt",
    "test_weights[2].txt",
]


def test_snapshots_are_written_matched_diffed_and_updated(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.path / "__signals__" / "test_shipping"
    pytester.makepyfile(test_shipping=SHIPPING.replace("STEP", "'left depot'"))

    first = run(pytester)

    first.assert_outcomes(passed=5)
    names = sorted(path.name for path in folder.iterdir())
    # Unsafe characters are replaced, and a hash of the real name tells apart
    # ids that would otherwise share a file.
    assert [re.sub(r"-[0-9a-f]{8}\.txt$", "-HASH.txt", n) for n in names] == (
        SNAPSHOT_FILES
    )
    assert (folder / "test_ships.txt").read_text() == SHIPS_SNAPSHOT
    assert (folder / "TestParcel.test_twice.2.txt").read_text() == (
        "test_shipping.parcel_tracked  sender=test_shipping.Parcel  (no receivers)\n"
        "    kwargs: step=left depot\n"
    )
    assert "wrote new snapshot __signals__/test_shipping/test_ships.txt" in (
        section(first, "signaltrace snapshots")
    )

    second = run(pytester)

    second.assert_outcomes(passed=5)
    assert "signaltrace snapshots" not in second.stdout.str()

    pytester.makepyfile(test_shipping=SHIPPING.replace("STEP", "'at the hub'"))
    changed = run(pytester)

    changed.assert_outcomes(passed=1, failed=4)
    assert failure_message(changed, "test_ships") == (
        "The signals sent differ from the snapshot "
        "__signals__/test_shipping/test_ships.txt.\n"
        "Run pytest with --signaltrace-update to accept the new ones.\n"
        "--- __signals__/test_shipping/test_ships.txt (snapshot)\n"
        "+++ this run\n"
        "@@ -2,4 +2,4 @@\n"
        "     kwargs: weight=2\n"
        "     -> test_shipping.track\n"
        "        test_shipping.parcel_tracked  sender=test_shipping.Parcel  "
        "(no receivers)\n"
        "-           kwargs: step=left depot\n"
        "+           kwargs: step=at the hub"
    )
    assert (folder / "test_ships.txt").read_text() == SHIPS_SNAPSHOT

    updated = run(pytester, "--signaltrace-update")

    updated.assert_outcomes(passed=5)
    assert len(section(updated, "signaltrace snapshots")) == 5
    assert (folder / "test_ships.txt").read_text() == SHIPS_SNAPSHOT.replace(
        "left depot", "at the hub"
    )
    run(pytester).assert_outcomes(passed=5)


def test_the_report_shows_every_send_whatever_the_snapshot_options(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_checkout=FAILING)
    pytester.makeini(
        "[pytest]\n"
        "signaltrace_snapshot_exclude = order_paid\n"
        "signaltrace_snapshot_normalize = amount=\\d+ -> amount=<n>\n"
    )

    result = run(pytester, "--signaltrace")

    assert section(result, "Captured signals call") == REPORTED


# ------------------------------------------------------------ snapshot options

TASKS = """
import uuid

import pytest
from django.dispatch import Signal

task_started = Signal()
order_paid = Signal()


def pay():
    task_started.send(sender=None, task_id=uuid.uuid4().hex)
    order_paid.send(sender=None, reference="ref-" + uuid.uuid4().hex)


def test_pays(signal_trace):
    pay()
    signal_trace.assert_matches_snapshot()

MARKED
"""

MARKED = """
pytestmark = pytest.mark.signaltrace_snapshot(normalize={"ref-": "reference "})


@pytest.mark.signaltrace_snapshot(normalize={"reference <id>": "<reference>"})
class TestMarked:
    def test_pays_once(self, signal_trace):
        pay()
        signal_trace.assert_matches_snapshot()

    @pytest.mark.signaltrace_snapshot(exclude="order_paid")
    def test_pays_twice(self, signal_trace):
        pay()
        pay()
        signal_trace.assert_matches_snapshot()
"""

TASKS_INI = """
[pytest]
signaltrace_snapshot_exclude =
    task_started
signaltrace_snapshot_normalize =
    [0-9a-f]{32} -> <id>
"""


def snapshot_text(pytester: pytest.Pytester, module: str, test: str) -> str:
    return (pytester.path / "__signals__" / module / f"{test}.txt").read_text()


def test_ini_options_leave_signals_out_of_snapshots_and_normalise_them(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_tasks=TASKS.replace("MARKED", ""))
    pytester.makeini(TASKS_INI)

    run(pytester).assert_outcomes(passed=1)
    run(pytester).assert_outcomes(passed=1)

    assert snapshot_text(pytester, "test_tasks", "test_pays") == (
        "test_tasks.order_paid  sender=None  (no receivers)\n"
        "    kwargs: reference=ref-<id>\n"
    )


def test_markers_add_to_the_ini_options_the_nearest_last(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_tasks=TASKS.replace("MARKED", MARKED))
    pytester.makeini(TASKS_INI)

    run(pytester).assert_outcomes(passed=3)
    run(pytester).assert_outcomes(passed=3)

    assert snapshot_text(pytester, "test_tasks", "TestMarked.test_pays_once") == (
        "test_tasks.order_paid  sender=None  (no receivers)\n"
        "    kwargs: reference=<reference>\n"
    )
    assert snapshot_text(pytester, "test_tasks", "TestMarked.test_pays_twice") == (
        "(no signals sent)\n"
    )
    assert "kwargs: reference=reference <id>\n" in (
        snapshot_text(pytester, "test_tasks", "test_pays")
    )


MIXIN = """
import unittest
import uuid

import pytest
from django.dispatch import Signal

from signaltrace.testing import SignalTraceMixin

task_started = Signal()
order_paid = Signal()


@pytest.mark.signaltrace_snapshot(exclude="task_started")
class PaymentTests(SignalTraceMixin, unittest.TestCase):
    def test_pays(self):
        task_started.send(sender=None, task_id=uuid.uuid4().hex)
        order_paid.send(sender=None, amount=10)
        self.signal_trace.assert_matches_snapshot()
"""


def test_the_mixin_takes_snapshots_with_the_test_options(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_mixin=MIXIN)

    run(pytester).assert_outcomes(passed=1)
    run(pytester).assert_outcomes(passed=1)

    assert snapshot_text(pytester, "test_mixin", "PaymentTests.test_pays") == (
        "test_mixin.order_paid  sender=None  (no receivers)\n    kwargs: amount=10\n"
    )


WRONG_MARKERS = """
import pytest


@pytest.mark.signaltrace_snapshot(exlude="task_started")
def test_misspelt():
    pass


@pytest.mark.signaltrace_snapshot(normalize={"[0-9": "<n>"})
def test_bad_pattern():
    pass


def test_unmarked():
    pass
"""


def test_a_wrong_marker_is_an_error_of_its_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_markers=WRONG_MARKERS)

    result = run(pytester)

    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.signaltrace_snapshot takes exclude= and normalize= only, "
            "got exlude=.",
            "*@pytest.mark.signaltrace_snapshot: normalize pattern '[0-9' is not a "
            "valid regular expression: *",
        ]
    )


def test_a_wrong_normalize_line_in_the_ini_file_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_markers="def test_one(): pass")
    pytester.makeini("[pytest]\nsignaltrace_snapshot_normalize = [0-9a-f]+=<id>\n")

    result = run(pytester)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == (
        "ERROR: signaltrace_snapshot_normalize: expected 'REGEX -> REPLACEMENT', "
        "got '[0-9a-f]+=<id>'."
    )


# ------------------------------------------------------------ with pytest-django


def test_fixture_works_with_db_and_transactional_db_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # for tests.app
    pytester.makepyfile(test_models=MODELS, models_settings=MODELS_SETTINGS)
    args = ["--ds=models_settings", "-p", "no:cacheprovider", "-s"]

    first = pytester.runpytest_subprocess(*args)

    first.assert_outcomes(passed=4)
    pks = re.findall(r"author pk (\d+)", first.stdout.str())
    assert len(set(pks)) == 2, "the transactional tests should get different pks"
    folder = pytester.path / "__signals__" / "test_models"
    assert (folder / "test_transactional.txt").read_text() == (
        folder / "test_transactional_again.txt"
    ).read_text()
    assert "instance=<testapp.Book #1>, created=True" in (
        (folder / "test_transactional.txt").read_text()
    )

    in_reverse = [
        "test_models.py::test_transactional_again",
        "test_models.py::test_transactional",
        "test_models.py::test_db_fixture",
    ]
    pytester.runpytest_subprocess(*args, *in_reverse).assert_outcomes(passed=3)


def test_plugin_imports_without_django_settings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)

    result = pytester.runpython_c(
        "import django.conf, signaltrace.pytest_plugin; "
        "assert not django.conf.settings.configured"
    )

    assert result.ret == 0, result.stderr.str()


NO_DJANGO_CONFTEST = """
import sys
from pathlib import Path


def pytest_unconfigure(config):
    loaded = [n for n in sys.modules if n == "django" or n.startswith("django.")]
    (Path(__file__).parent / "django_modules.txt").write_text("\\n".join(loaded))
"""

NO_DJANGO_TESTS = """
import pytest


def test_passes():
    pass


@pytest.mark.parametrize("number", [1, 2])
def test_parametrized(number):
    pass


class TestGroup:
    def test_in_a_class(self):
        pass


@pytest.mark.signaltrace_snapshot(exclude="task_started", normalize={"a": "b"})
def test_marked():
    pass


def test_fails():
    assert False
"""


def test_a_run_that_does_not_use_django_imports_no_django_module(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makeconftest(NO_DJANGO_CONFTEST)
    pytester.makepyfile(test_plain=NO_DJANGO_TESTS)
    pytester.makeini(TASKS_INI)

    # --strict-markers: the marker is known, so the plugin is loaded.
    result = pytester.runpytest_subprocess("-p", "no:django", "--strict-markers")

    result.assert_outcomes(passed=5, failed=1)
    assert (pytester.path / "django_modules.txt").read_text() == ""


# ----------------------------------------------------------- the fixture's capture

needs_asend = pytest.mark.skipif(django.VERSION < (5, 0), reason="asend: Django 5.0+")

book_checked = Signal()


async def counts_authors_async(sender: object, **kwargs: object) -> None:
    await Author.objects.acount()
    await Author.objects.acount()


@pytest.fixture
def async_receiver() -> Iterator[None]:
    book_checked.connect(counts_authors_async)
    yield
    book_checked.disconnect(counts_authors_async)


def queries_of_the_async_receiver(trace: SignalTrace) -> int | None:
    return trace.assert_receiver_called(counts_authors_async, count=1)[0].queries


@needs_asend
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("async_receiver")
def test_an_async_receiver_runs_as_many_queries_under_the_fixture_as_under_capture(
    signal_trace: SignalTrace,
) -> None:
    def under_capture() -> int | None:
        with signaltrace.capture() as trace:
            asyncio.run(book_checked.asend(sender=None))
        return queries_of_the_async_receiver(trace)

    # In a context of its own, as outside the test, the fixture does not see it.
    captured = contextvars.Context().run(under_capture)
    asyncio.run(book_checked.asend(sender=None))

    assert queries_of_the_async_receiver(signal_trace) == captured == 2
