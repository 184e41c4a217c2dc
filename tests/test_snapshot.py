"""The deterministic rendering of a trace, and snapshot files compared with it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import Signal

from signaltrace import snapshot, snapshot_files
from signaltrace.testing import capture_signals
from signaltrace.trace import Trace
from tests.app.models import Author, Book

M = __name__

parcel_shipped = Signal()
parcel_tracked = Signal()
parcel_lost = Signal()


class Parcel:
    pass


def track(sender: object, **kwargs: object) -> None:
    parcel_tracked.send(sender=sender, step="left depot")


def log_tracking(sender: object, **kwargs: object) -> None:
    pass


def raise_lost(sender: object, **kwargs: object) -> None:
    raise LookupError("parcel 0x7f3a12 not found")


parcel_shipped.connect(track)
parcel_tracked.connect(log_tracking)
parcel_lost.connect(raise_lost)


@pytest.fixture(autouse=True)
def outside_pytest_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the target the plugin set for this very test, as outside pytest."""
    monkeypatch.setattr(snapshot_files, "_target", None)


def render(trace: Trace) -> str:
    return snapshot.render(trace.events, dropped=trace.dropped)


# --------------------------------------------------------------------- render


def test_render_nests_sends_under_the_receiver_that_made_them() -> None:
    with capture_signals() as trace:
        parcel_shipped.send(sender=Parcel, weight=2)

    assert render(trace) == (
        f"{M}.parcel_shipped  sender={M}.Parcel\n"
        "    kwargs: weight=2\n"
        f"    -> {M}.track\n"
        f"       {M}.parcel_tracked  sender={M}.Parcel\n"
        "           kwargs: step=left depot\n"
        f"           -> {M}.log_tracking\n"
    )


def test_render_shows_the_error_class_without_its_message() -> None:
    # Django 4.2's mail_admins handler would render its e-mail template for the
    # failure send_robust logs (DEBUG is off in tests): a template_rendered send.
    quiet = mock.patch.object(logging.getLogger("django.dispatch"), "disabled", True)
    with quiet, capture_signals() as trace:
        parcel_lost.send_robust(sender=None)

    assert render(trace) == (
        f"{M}.parcel_lost  sender=None  [send_robust]\n"
        f"    -> {M}.raise_lost  raised LookupError\n"
    )


def test_render_marks_sends_that_reached_no_receiver() -> None:
    nobody_listens = Signal()
    with capture_signals() as trace:
        nobody_listens.send(sender=None)

    assert render(trace).endswith("  sender=None  (no receivers)\n")


def test_render_strips_memory_addresses() -> None:
    with capture_signals() as trace:
        parcel_tracked.send(sender=Parcel(), step=object())

    assert render(trace) == (
        f"{M}.parcel_tracked  sender=<{M}.Parcel object>\n"
        "    kwargs: step=<object object>\n"
        f"    -> {M}.log_tracking\n"
    )


def test_render_sorts_sets() -> None:
    with capture_signals() as trace:
        parcel_tracked.send(sender=None, tags={"fragile", "express", "heavy"})

    assert "kwargs: tags={'express', 'fragile', 'heavy'}" in render(trace)


def test_render_masks_sensitive_kwargs() -> None:
    with capture_signals() as trace:
        parcel_tracked.send(sender=None, api_token="tok_123")

    assert "kwargs: api_token=********************" in render(trace)


def test_render_says_when_nothing_was_sent() -> None:
    with capture_signals() as trace:
        pass

    assert render(trace) == "(no signals sent)\n"


def test_render_mentions_sends_dropped_at_max_events() -> None:
    with capture_signals(max_events=1) as trace:
        parcel_tracked.send(sender=None)
        parcel_tracked.send(sender=None)

    assert render(trace).endswith("(1 more sends not recorded: MAX_EVENTS reached)\n")


@pytest.mark.django_db
def test_render_leaves_out_model_init_sends_nobody_received() -> None:
    with capture_signals() as trace:
        Author(name="Ada")
        parcel_tracked.send(sender=None)

    assert len(trace.events) == 3
    assert render(trace).startswith(f"{M}.parcel_tracked  sender=None\n")


@pytest.fixture
def on_author_saved() -> Iterator[None]:
    def saved(sender: object, **kwargs: object) -> None:
        pass

    post_save.connect(saved, sender=Author)
    yield
    post_save.disconnect(saved, sender=Author)


def _create_two_authors() -> Trace:
    with capture_signals() as trace:
        Author.objects.create(name="Ada")
        Author.objects.create(name="Bob")
    return trace


@pytest.mark.django_db
@pytest.mark.usefixtures("on_author_saved")
def test_render_numbers_model_instances_instead_of_showing_their_pk() -> None:
    Author.objects.create(name="Shifts the primary keys")
    trace = _create_two_authors()

    text = render(trace)

    assert "instance=<testapp.Author #1>, created=True" in text
    assert "instance=<testapp.Author #2>, created=True" in text
    # pre_save shows each instance as it was sent: not saved yet.
    assert text.count("pk=") == text.count("pre_save") == 2
    assert "pk=None" in text


@pytest.mark.django_db
@pytest.mark.usefixtures("on_author_saved")
def test_render_is_the_same_whatever_the_primary_keys() -> None:
    first = render(_create_two_authors())
    Author.objects.create(name="Shifts the primary keys")

    assert render(_create_two_authors()) == first


@pytest.mark.django_db
def test_render_shows_unsaved_instances_with_pk_none() -> None:
    author = Author(name="Ada")
    with capture_signals() as trace:
        parcel_tracked.send(sender=None, author=author)

    assert "kwargs: author=<testapp.Author pk=None>" in render(trace)


@pytest.fixture
def on_m2m_changed() -> Iterator[None]:
    def changed(sender: object, **kwargs: object) -> None:
        pass

    m2m_changed.connect(changed)
    yield
    m2m_changed.disconnect(changed)


@pytest.mark.django_db
@pytest.mark.usefixtures("on_m2m_changed")
def test_render_numbers_the_pk_set_of_m2m_changed_like_the_instances() -> None:
    Author.objects.create(name="Shifts the primary keys")
    ada = Author.objects.create(name="Ada")
    bob = Author.objects.create(name="Bob")
    book = Book.objects.create(title="Notes", author=ada)
    with capture_signals() as trace:
        parcel_tracked.send(sender=None, reader=bob)
        book.readers.add(ada, bob)

    text = render(trace)

    assert "kwargs: reader=<testapp.Author #1>" in text
    assert "model=<model testapp.Author>, pk_set={#1, #2}" in text


# -------------------------------------------------------------------- options

task_started = Signal()
task_finished = Signal()


def on_task_started(sender: object, **kwargs: object) -> None:
    parcel_tracked.send(sender=None, step="picked")


task_started.connect(on_task_started)


def run_a_task(task_id: str) -> Trace:
    with capture_signals() as trace:
        task_started.send(sender=None, task_id=task_id)
        parcel_shipped.send(sender=Parcel, weight=2)
        task_finished.send(sender=None, task_id=task_id)
    return trace


def test_options_leave_out_the_sends_of_signals_named_by_their_last_part() -> None:
    options = snapshot.SnapshotOptions(exclude=["task_finished"])

    text = snapshot.render(run_a_task("a1").events, options=options)

    assert "task_finished" not in text
    assert f"{M}.task_started  sender=None\n" in text


def test_options_match_a_dotted_name_by_its_end() -> None:
    options = snapshot.SnapshotOptions(exclude=f"{M}.task_finished")
    elsewhere = snapshot.SnapshotOptions(exclude="elsewhere.task_finished")
    trace = run_a_task("a1")

    assert "task_finished" not in snapshot.render(trace.events, options=options)
    assert "task_finished" in snapshot.render(trace.events, options=elsewhere)


def test_options_keep_what_the_receivers_of_a_left_out_send_sent() -> None:
    options = snapshot.SnapshotOptions(exclude=["task_started", "task_finished"])

    text = snapshot.render(run_a_task("a1").events, options=options)

    assert text.startswith(
        f"{M}.parcel_tracked  sender=None\n"
        "    kwargs: step=picked\n"
        f"    -> {M}.log_tracking\n"
        f"{M}.parcel_shipped  sender={M}.Parcel\n"
    )


def test_options_leave_left_out_sends_out_of_the_instance_numbers() -> None:
    ada, bob = Author(pk=10, name="Ada"), Author(pk=20, name="Bob")
    with capture_signals() as trace:
        task_finished.send(sender=None, author=ada)
        parcel_tracked.send(sender=None, author=bob)
    options = snapshot.SnapshotOptions(exclude="task_finished")

    assert "kwargs: author=<testapp.Author #1>" in (
        snapshot.render(trace.events, options=options)
    )


def test_options_normalize_each_line_with_regular_expressions_in_order() -> None:
    options = snapshot.SnapshotOptions(
        normalize={r"task_id=\w+": "task_id=<id>", r"^(\s*)kwargs: ": r"\1with: "}
    )

    text = snapshot.render(run_a_task("f3a9").events, options=options)

    assert text.count("    with: task_id=<id>\n") == 2
    assert "f3a9" not in text


def test_options_normalize_with_a_callable_given_each_line() -> None:
    seen: list[str] = []

    def normalize(line: str) -> str:
        seen.append(line)
        return line.upper()

    options = snapshot.SnapshotOptions(normalize=normalize)
    trace = run_a_task("a1")

    text = snapshot.render(trace.events, options=options)

    assert text == snapshot.render(trace.events).upper()
    assert seen == snapshot.render(trace.events).splitlines()


def test_extended_options_leave_out_both_and_normalize_after_the_first() -> None:
    options = snapshot.SnapshotOptions("task_started", {"a1": "<first>"}).extended(
        exclude=["task_finished"], normalize={"<first>": "<second>"}
    )

    assert options.exclude == ("task_started", "task_finished")
    assert options.normalized("task_id=a1") == "task_id=<second>"


def test_render_uses_the_options_of_the_running_test(tmp_path: Path) -> None:
    options = snapshot.SnapshotOptions(exclude="task_started")
    target = snapshot.SnapshotTarget(tmp_path, "test_tasks", options=options)
    trace = run_a_task("a1")

    with snapshot.targeting(target):
        in_test = snapshot.render(trace.events)
        everything = snapshot.render(trace.events, options=snapshot.SnapshotOptions())

    assert "task_started" not in in_test
    assert "task_started" in everything
    assert "task_started" in snapshot.render(trace.events)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"exclude": [task_started]}, TypeError, "exclude takes signal names"),
        ({"normalize": "<id>"}, TypeError, "normalize takes a mapping"),
        ({"normalize": {"[0-9": "<n>"}}, ValueError, "not a valid regular expr"),
    ],
)
def test_options_refuse_what_they_cannot_use(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        snapshot.SnapshotOptions(**arguments)


# ------------------------------------------------------------------ snapshots


def test_assert_matches_writes_a_missing_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "__signals__" / "shipping.txt"

    snapshot.assert_matches("one\n", path)

    assert path.read_text() == "one\n"


def test_assert_matches_passes_when_the_snapshot_is_the_same(tmp_path: Path) -> None:
    path = tmp_path / "shipping.txt"
    path.write_text("one\n")

    snapshot.assert_matches("one\n", path)


def test_assert_matches_fails_with_a_diff_and_keeps_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "shipping.txt"
    path.write_text("one\ntwo\n")

    with pytest.raises(AssertionError) as excinfo:
        snapshot.assert_matches("one\nthree\n", path)

    assert str(excinfo.value) == (
        "The signals sent differ from the snapshot shipping.txt.\n"
        "Run pytest with --signaltrace-update to accept the new ones.\n"
        "--- shipping.txt (snapshot)\n"
        "+++ this run\n"
        "@@ -1,2 +1,2 @@\n"
        " one\n"
        "-two\n"
        "+three"
    )
    assert path.read_text() == "one\ntwo\n"


def test_assert_matches_rewrites_the_snapshot_when_updating(tmp_path: Path) -> None:
    path = tmp_path / "shipping.txt"
    path.write_text("one\n")
    target = snapshot.SnapshotTarget(tmp_path, "test_shipping", update=True)

    with snapshot.targeting(target):
        snapshot.assert_matches("two\n", path)

    assert path.read_text() == "two\n"
    assert target.notes == [f"updated snapshot {path}"]


def test_assert_matches_uses_the_target_for_the_file_name(tmp_path: Path) -> None:
    target = snapshot.SnapshotTarget(tmp_path, "test_shipping")

    with snapshot.targeting(target):
        snapshot.assert_matches("one\n")
        snapshot.assert_matches("two\n")

    assert (tmp_path / "test_shipping.txt").read_text() == "one\n"
    assert (tmp_path / "test_shipping.2.txt").read_text() == "two\n"


def test_assert_matches_needs_a_path_outside_a_pytest_test() -> None:
    with pytest.raises(RuntimeError, match="outside pytest, pass a path"):
        snapshot.assert_matches("one\n")


def test_trace_assert_matches_snapshot_renders_the_trace(tmp_path: Path) -> None:
    path = tmp_path / "shipping.txt"
    with capture_signals() as trace:
        parcel_tracked.send(sender=None, step="out for delivery")

    trace.assert_matches_snapshot(path)

    assert path.read_text() == render(trace)
