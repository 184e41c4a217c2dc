"""``manage.py signaltrace``: tracing commands and listing connected receivers."""

from __future__ import annotations

import gc
import itertools
import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import django
import pytest
from django.apps import apps
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.core.management.color import color_style
from django.db.models.signals import post_save
from django.test import override_settings

import signaltrace
from signaltrace.receivers import connected_receivers, unknown_sender, unknown_signal
from signaltrace.render import filter_trace, fit, render_text, visible_length
from signaltrace.trace import events_to_dicts
from tests.app import receivers
from tests.app.models import Author
from tests.app.signals import book_archived

pytestmark = pytest.mark.django_db

PUBLISHED = "tests.app.signals.book_published"
ANNOUNCED = "tests.app.signals.book_announced"
ERROR = color_style(force_color=True).ERROR("x").partition("x")[0]
RESET = color_style(force_color=True).ERROR("x").partition("x")[2]
WARNING = color_style(force_color=True).WARNING("x").partition("x")[0]


class Terminal(StringIO):
    """An output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Runner:
    """Calls ``signaltrace`` with its output captured, even when it raises."""

    def __init__(self, out: StringIO | None = None) -> None:
        self.out = out or StringIO()
        self.err = StringIO()

    def __call__(self, *args: str, **options: Any) -> None:
        call_command("signaltrace", *args, stdout=self.out, stderr=self.err, **options)

    @property
    def stdout(self) -> str:
        return self.out.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue()

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def run() -> Runner:
    return Runner()


@pytest.fixture
def author_saves() -> Iterator[None]:
    """A project receiver of post_save for Author, so that saves are traced."""

    def on_author_saved(sender: object, **kwargs: Any) -> None:
        pass

    post_save.connect(on_author_saved, sender=Author)
    yield
    post_save.disconnect(on_author_saved, sender=Author)


@pytest.fixture
def archived_heard() -> Iterator[None]:
    """A receiver of book_archived, so that its sends are traced."""

    def on_archived(sender: object, **kwargs: Any) -> None:
        pass

    book_archived.connect(on_archived)
    yield
    book_archived.disconnect(on_archived)


#: shell -c code sending book_archived with four long keyword arguments.
ARCHIVE_LONG = (
    "from tests.app.signals import book_archived; "
    "book_archived.send(sender=None, a='a' * 30, b='b' * 30, c='c' * 30, d='d' * 30)"
)


def report_width(run: Runner) -> int:
    """The width of the longest line of the report (after the command's output)."""
    lines = run.lines
    start = next(i for i, line in enumerate(lines) if "book_archived  sender" in line)
    # The shell's own output ends with a colour's reset, on the report's line.
    return max(visible_length(line) for line in lines[start:])


def line_starting(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert found, f"no line starts with {start!r} in:\n" + "\n".join(lines)
    return found[0]


# ------------------------------------------------------------ the traced tree


def test_tree_shows_signal_sender_method_duration_and_kwargs(run: Runner) -> None:
    run("publishbook", "Dune", "--copies", "3")

    line = line_starting(run.lines, PUBLISHED)
    assert "sender=tests.app.models.Book" in line
    assert "  send  " in line
    assert " ms" in line
    assert "title=Dune, copies=3" in line


def test_tree_lists_receivers_under_their_send_in_call_order(run: Runner) -> None:
    run("publishbook", "Dune")

    receiver_lines = [
        line for line in run.lines if line.lstrip("│├└─ ").startswith("tests.app.rec")
    ]
    assert [line.split()[-3] for line in receiver_lines] == [
        "tests.app.receivers.announce",
        "tests.app.receivers.log_announcement",
        "tests.app.receivers.reject_untitled",
        "tests.app.receivers.Ledger.__call__",
    ]


def test_tree_names_partial_receivers(run: Runner) -> None:
    run("publishbook", "Dune")

    assert "├─ functools.partial(tests.app.receivers.record)" in run.stdout


def test_nested_send_is_indented_under_the_receiver_that_sent_it(run: Runner) -> None:
    run("publishbook", "Dune")

    lines = run.lines
    announce = lines.index(line_starting(lines, "├─ tests.app.receivers.announce"))
    assert lines[announce + 1].startswith(f"│  └─ {ANNOUNCED}  sender=")
    assert lines[announce + 2].startswith(
        "│     └─ tests.app.receivers.log_announcement"
    )
    assert lines[announce + 3].startswith("├─ tests.app.receivers.reject_untitled")


def test_receiver_error_is_shown_and_counted(run: Runner) -> None:
    run("publishbook", "", "--robust")

    line = line_starting(run.lines, "├─ tests.app.receivers.reject_untitled")
    assert line.endswith("raised ValueError: a book needs a title")
    assert "1 error," in line_starting(run.lines, "Summary:")


def test_wrapped_command_output_comes_before_the_tree(run: Runner) -> None:
    run("publishbook", "Dune")

    assert run.lines[0] == "Published 'Dune'"


def test_summary_counts_sends_receivers_errors_and_time(run: Runner) -> None:
    run("publishbook", "Dune")

    summary = line_starting(run.lines, "Summary:")
    assert summary.startswith("Summary: 2 sends, 5 receiver calls, 0 errors, ")
    assert summary.endswith(" ms in signals")


def test_summary_counts_sends_that_reached_no_receiver_per_signal(
    run: Runner,
) -> None:
    run("loaddata", "books", "--verbosity", "0")

    lines = run.lines
    heading = lines.index("Sends that reached no receiver:")
    counted = dict(line.split() for line in lines[heading + 1 :])
    assert counted["django.db.models.signals.post_save"] == "2"
    assert counted["django.db.models.signals.pre_save"] == "2"


def test_summary_reports_dropped_sends(run: Runner) -> None:
    with override_settings(SIGNALTRACE={"MAX_EVENTS": 1}):
        run("publishbook", "Dune")

    assert run.lines[-1] == "Dropped: 1 send after MAX_EVENTS was reached"


def test_verbosity_0_prints_the_summary_only(run: Runner) -> None:
    run("--verbosity", "0", "publishbook", "Dune")

    assert run.lines[0] == "Published 'Dune'"
    assert run.lines[1].startswith("Summary: 2 sends")
    assert PUBLISHED not in run.stdout


def test_verbosity_2_shows_kwargs_in_full_one_per_line(run: Runner) -> None:
    run("-v", "2", "publishbook", "Dune", "--copies", "3")

    lines = run.lines
    event = lines.index(line_starting(lines, PUBLISHED))
    assert "title=" not in lines[event]
    assert lines[event + 1 : event + 3] == ["│    title=Dune", "│    copies=3"]


def test_verbosity_2_shows_where_each_send_came_from(run: Runner) -> None:
    run("-v", "2", "publishbook", "Dune")

    sent_from = [
        line.lstrip("│ ")
        for line in run.lines
        if line.lstrip("│ ").startswith("sent from ")
    ]
    assert len(sent_from) == 2
    assert "tests/app/management/commands/publishbook.py:" in sent_from[0]
    assert sent_from[0].endswith(" in handle")
    assert "tests/app/receivers.py:" in sent_from[1]
    assert sent_from[1].endswith(" in announce")


def test_verbosity_2_shows_where_each_receiver_is_defined_and_what_it_returned(
    run: Runner,
) -> None:
    run("-v", "2", "publishbook", "Dune")

    details = [line.lstrip("│ ") for line in run.lines]
    assert any(
        line.startswith("defined in ") and line.endswith("in log_announcement")
        for line in details
    )
    assert "returned announced Dune" in details


# ------------------------------------------------------------ Django commands


@pytest.mark.django_db(transaction=True)
def test_migrate_on_a_fresh_database_shows_migrate_signals_per_app(
    run: Runner,
) -> None:
    call_command("migrate", "testapp", "zero", verbosity=0)

    run("--json", "migrate", "--noinput")

    events = run.json()["events"]
    post_migrate = [e for e in events if e["signal"].endswith(".post_migrate")]
    # Django sends post_migrate once for every installed app that has models.
    assert (
        {event["sender"] for event in post_migrate}
        == {
            f"<{type(config).__name__}: {config.label}>"
            for config in apps.get_app_configs()
            if config.models_module is not None
        }
        >= {
            "<AuthConfig: auth>",
            "<ContentTypesConfig: contenttypes>",
            "<SessionsConfig: sessions>",
            "<TestAppConfig: testapp>",
        }
    )
    for event in post_migrate:
        assert {call["name"] for call in event["receivers"]} >= {
            "django.contrib.auth.management.create_permissions",
            "django.contrib.contenttypes.management.create_contenttypes",
        }
    assert "Applying testapp.0001_initial... OK" in run.stderr


@pytest.mark.django_db(transaction=True)
def test_migrate_shows_pre_migrate_with_its_receiver(run: Runner) -> None:
    call_command("migrate", "testapp", "zero", verbosity=0)

    run("migrate", "--noinput", "--verbosity", "0")

    lines = run.lines
    pre_migrate = lines.index(
        line_starting(lines, "django.db.models.signals.pre_migrate  sender=<Content")
    )
    # Its keyword arguments do not fit on its line: they come on the next one.
    assert lines[pre_migrate + 1].startswith("│    app_config=<ContentTypesConfig")
    assert lines[pre_migrate + 2].startswith(
        "└─ django.contrib.contenttypes.management."
        "inject_rename_contenttypes_operations"
    )


@pytest.mark.django_db(transaction=True)
def test_wrapped_command_arguments_pass_through_untouched(run: Runner) -> None:
    run("migrate", "--noinput", "--verbosity", "0")

    assert "Operations to perform" not in run.stdout
    assert "├─ django.contrib.auth.management.create_permissions" in run.stdout


def test_loaddata_shows_post_save_with_raw_true(
    run: Runner, author_saves: None
) -> None:
    run("--width", "0", "loaddata", "books", "--verbosity", "0")

    line = line_starting(run.lines, "django.db.models.signals.post_save")
    assert "sender=tests.app.models.Author" in line
    assert "raw=True" in line
    assert "└─ tests.test_command.author_saves.<locals>.on_author_saved" in run.stdout


@pytest.mark.django_db(transaction=True)
def test_flush_shows_post_migrate_with_its_receivers(run: Runner) -> None:
    run("flush", "--noinput")

    lines = run.lines
    start = lines.index(
        line_starting(
            lines, "django.db.models.signals.post_migrate  sender=<AuthConfig"
        )
    )
    block = itertools.takewhile(lambda line: line[:1] in "├└│ ", lines[start + 1 :])
    branches = [line.split()[1] for line in block if line[:1] in "├└"]
    assert "django.contrib.auth.management.create_permissions" in branches
    assert "django.contrib.contenttypes.management.create_contenttypes" in branches


# ------------------------------------------------------------------- failures


def test_failing_command_prints_the_trace_then_raises_its_error(run: Runner) -> None:
    with pytest.raises(CommandError, match="the press is on fire") as raised:
        run("failingcommand")

    assert raised.value.returncode == 3
    assert run.lines[0] == "About to fail"
    assert line_starting(run.lines, PUBLISHED)
    assert line_starting(run.lines, "Summary: 2 sends")


def test_failing_command_exception_propagates_after_the_trace(run: Runner) -> None:
    with pytest.raises(RuntimeError, match="the press broke down"):
        run("failingcommand", "--how", "exception")

    assert line_starting(run.lines, PUBLISHED)


def test_failing_command_exit_status_is_preserved(run: Runner) -> None:
    with pytest.raises(SystemExit) as raised:
        run("failingcommand", "--how", "exit")

    assert raised.value.code == 4
    assert line_starting(run.lines, PUBLISHED)


def test_failing_command_from_the_command_line_exits_with_its_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    utility = ManagementUtility(["manage.py", "signaltrace", "failingcommand"])

    with pytest.raises(SystemExit) as raised:
        utility.execute()

    assert raised.value.code == 3
    captured = capsys.readouterr()
    assert PUBLISHED in captured.out
    assert captured.err == "CommandError: the press is on fire\n"


def test_wrapped_command_argument_error_is_the_commands_own(run: Runner) -> None:
    with pytest.raises(CommandError, match="the following arguments are required"):
        run("publishbook")

    assert run.stdout == ""


def test_unknown_command_gets_djangos_message(run: Runner) -> None:
    with pytest.raises(SystemExit) as raised:
        run("publishbok")

    assert raised.value.code == 1
    assert run.stderr.startswith(
        "Unknown command: 'publishbok'. Did you mean publishbook?"
    )
    assert run.stdout == ""


def test_no_command_is_an_error(run: Runner) -> None:
    with pytest.raises(CommandError, match="Name the command to trace"):
        run()


# ---------------------------------------------------------------- JSON output


def test_json_prints_the_trace_dict_on_stdout(run: Runner) -> None:
    run("--json", "publishbook", "Dune")

    trace = run.json()
    assert [event["signal"] for event in trace["events"]] == [PUBLISHED, ANNOUNCED]
    assert trace["events"][1]["parent"] == 0
    assert trace["events"][1]["parent_receiver"] == 0
    assert trace["events"][0]["kwargs"] == {"title": "Dune", "copies": 1}


def test_json_moves_the_wrapped_commands_output_to_stderr(run: Runner) -> None:
    run("--json", "publishbook", "Dune")

    assert run.stderr == "Published 'Dune'\n"


def test_json_is_printed_when_the_command_fails(run: Runner) -> None:
    with pytest.raises(CommandError):
        run("--json", "failingcommand")

    assert run.json()["events"][0]["signal"] == PUBLISHED


def test_output_writes_json_to_the_file_and_keeps_the_tree(
    run: Runner, tmp_path: Path
) -> None:
    path = tmp_path / "trace.json"

    run("--output", str(path), "publishbook", "Dune")

    assert len(json.loads(path.read_text())["events"]) == 2
    assert line_starting(run.lines, PUBLISHED)


def test_output_to_an_unwritable_path_is_a_command_error(
    run: Runner, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="Cannot write the trace"):
        run("--output", str(tmp_path), "publishbook", "Dune")

    assert line_starting(run.lines, PUBLISHED)


# -------------------------------------------------------------------- filters


def test_signal_filter_keeps_that_signal_by_last_part(run: Runner) -> None:
    run("--json", "--signal", "book_announced", "publishbook", "Dune")

    events = run.json()["events"]
    assert [event["signal"] for event in events] == [ANNOUNCED]
    assert events[0]["parent"] is None
    assert events[0]["depth"] == 0


def test_signal_filter_matches_the_dotted_path_and_repeats(run: Runner) -> None:
    run("--json", "--signal", PUBLISHED, "--signal", ANNOUNCED, "publishbook", "Dune")

    assert len(run.json()["events"]) == 2


def test_exclude_signal_hides_that_signal(run: Runner) -> None:
    run("--exclude-signal", "book_announced", "publishbook", "Dune")

    assert ANNOUNCED not in run.stdout
    assert line_starting(run.lines, PUBLISHED)


def test_filters_apply_to_the_unreceived_counts(run: Runner) -> None:
    run("--json", "--signal", "pre_save", "loaddata", "books", "--verbosity", "0")

    trace = run.json()
    assert {count["signal"] for count in trace["counts"]} == {
        "django.db.models.signals.pre_save"
    }


def test_sender_filter_keeps_sends_from_that_sender(
    run: Runner, author_saves: None
) -> None:
    run("--json", "--sender", "Author", "loaddata", "books", "--verbosity", "0")

    trace = run.json()
    assert [event["sender"] for event in trace["events"]] == ["tests.app.models.Author"]
    assert {count["sender"] for count in trace["counts"]} == {"tests.app.models.Author"}


def test_sender_filter_takes_a_models_label(run: Runner, author_saves: None) -> None:
    run("--json", "--sender", "testapp.Author", "loaddata", "books", "--verbosity", "0")

    trace = run.json()
    assert [event["sender"] for event in trace["events"]] == ["tests.app.models.Author"]


def test_min_duration_hides_faster_sends(run: Runner) -> None:
    run("--min-duration", "1e9", "publishbook", "Dune")

    assert PUBLISHED not in run.stdout
    assert "Summary: 0 sends, 0 receiver calls" in run.stdout


def _trace_dict(*durations: float) -> dict[str, Any]:
    """A to_dict() trace: a chain of sends, each sent by the previous one's receiver."""
    events = [
        {
            "id": position,
            "parent": position - 1 if position else None,
            "parent_receiver": 0 if position else None,
            "signal": f"signals.s{position}",
            "sender": "None",
            "method": "send",
            "kwargs": {},
            "start_ms": 0.0,
            "duration_ms": duration,
            "depth": position,
            "location": None,
            "receivers": [
                {
                    "name": f"r{position}",
                    "duration_ms": duration,
                    "is_async": False,
                    "response": "None",
                    "error": None,
                    "source": None,
                }
            ],
            "error": None,
        }
        for position, duration in enumerate(durations)
    ]
    return {
        "started_at": 0.0,
        "duration_ms": durations[0],
        "elapsed_ms": durations[0],
        "events": events,
        "counts": [],
        "dropped": 0,
    }


def test_filter_reparents_a_kept_send_to_its_nearest_kept_ancestor() -> None:
    filtered = filter_trace(_trace_dict(9, 5, 1), exclude_signals=["s1"])

    assert [(e["id"], e["parent"], e["depth"]) for e in filtered["events"]] == [
        (0, None, 0),
        (1, 0, 1),
    ]
    assert filtered["events"][1]["signal"] == "signals.s2"


def test_filter_min_duration_keeps_sends_at_least_that_long() -> None:
    filtered = filter_trace(_trace_dict(9, 5, 1), min_duration_ms=5)

    assert [event["signal"] for event in filtered["events"]] == [
        "signals.s0",
        "signals.s1",
    ]


def test_filter_total_time_counts_the_kept_roots() -> None:
    filtered = filter_trace(_trace_dict(9, 5, 1), signals=["s1", "s2"])

    assert filtered["duration_ms"] == 5


def test_filter_without_criteria_returns_the_trace_unchanged() -> None:
    trace = _trace_dict(9, 5)

    assert filter_trace(trace) is trace


def test_render_marks_async_receivers() -> None:
    trace = _trace_dict(1)
    trace["events"][0]["receivers"][0]["is_async"] = True

    assert "└─ r0  1.000 ms  async" in render_text(trace).splitlines()


def test_render_shows_an_error_that_left_the_send() -> None:
    trace = _trace_dict(1)
    trace["events"][0]["error"] = "ValueError: boom"

    assert render_text(trace).splitlines()[1] == "│  ! ValueError: boom"


def test_render_marks_a_recorded_send_without_receivers() -> None:
    trace = _trace_dict(1)
    trace["events"][0]["receivers"] = []

    assert render_text(trace).splitlines()[0].endswith("(no receivers)")


def test_render_keeps_a_multiline_value_on_one_line() -> None:
    trace = _trace_dict(1)
    trace["events"][0]["kwargs"] = {"note": "<Note first\nsecond>"}

    assert render_text(trace).splitlines()[0].endswith("note=<Note first\\nsecond>")


# ------------------------------------------------------------------ name typos


def test_unknown_signal_is_an_error_suggesting_the_closest_names(run: Runner) -> None:
    with pytest.raises(CommandError) as raised:
        run("--signal", "book_publishd", "publishbook", "Dune")

    assert str(raised.value) == (
        "--signal: no signal named 'book_publishd' exists in this process; "
        f"did you mean '{PUBLISHED}'?"
    )


def test_unknown_signal_prints_no_report(run: Runner) -> None:
    with pytest.raises(CommandError):
        run("--signal", "book_publishd", "publishbook", "Dune")

    assert run.lines == ["Published 'Dune'"]


def test_unknown_excluded_signal_is_an_error(run: Runner) -> None:
    with pytest.raises(CommandError, match=r"^--exclude-signal: no signal named "):
        run("--exclude-signal", "book_anounced", "publishbook", "Dune")


def test_each_unknown_name_is_told_on_a_line_of_its_own(run: Runner) -> None:
    with pytest.raises(CommandError) as raised:
        run("--signal", "book_publishd", "--sender", "Boook", "publishbook", "Dune")

    lines = str(raised.value).splitlines()
    assert [line.partition(" no ")[0] for line in lines] == ["--signal:", "--sender:"]


def test_unknown_sender_is_an_error_suggesting_the_closest_names(run: Runner) -> None:
    with pytest.raises(CommandError) as raised:
        run("--sender", "tests.app.models.Boook", "publishbook", "Dune")

    assert str(raised.value) == (
        "--sender: no sender named 'tests.app.models.Boook' is known in this "
        "process; did you mean 'tests.app.models.Book'?"
    )


def test_a_misspelt_model_label_suggests_the_label(run: Runner) -> None:
    with pytest.raises(CommandError) as raised:
        run("--sender", "testapp.Boook", "publishbook", "Dune")

    assert str(raised.value).endswith("did you mean 'testapp.Book'?")


def test_a_model_that_sent_nothing_is_a_known_sender(run: Runner) -> None:
    run("--sender", "Author", "publishbook", "Dune")

    assert "Summary: 0 sends" in run.stdout


def test_a_sender_seen_only_in_the_trace_is_known(
    run: Runner, archived_heard: None
) -> None:
    code = "from tests.app.signals import book_archived; "
    code += "book_archived.send(sender='tenant-a')"

    run("--json", "--sender", "tenant-a", "shell", "-c", code)

    assert [event["sender"] for event in run.json()["events"]] == ["'tenant-a'"]


def test_a_typo_after_a_failing_command_is_told_on_stderr(run: Runner) -> None:
    with pytest.raises(CommandError, match="the press is on fire"):
        run("--signal", "book_publishd", "failingcommand")

    assert run.stderr.startswith("--signal: no signal named 'book_publishd'")


def test_unknown_signal_knows_the_signals_of_a_trace() -> None:
    assert unknown_signal("made_in_a_function") is not None
    assert unknown_signal("made_in_a_function", ["shop.made_in_a_function"]) is None


def test_unknown_sender_knows_classes_bound_in_loaded_modules() -> None:
    assert unknown_sender("Runner") is None
    assert unknown_sender("tests.test_command.Terminal") is None


def test_unknown_sender_knows_app_configs_and_none() -> None:
    assert unknown_sender("<TestAppConfig: testapp>") is None
    assert unknown_sender("None") is None


def test_a_historical_model_sender_is_known_from_the_trace_and_matches_its_name() -> (
    None
):
    trace = _trace_dict(1)
    trace["events"][0]["sender"] = "__fake__.Page"

    assert "sender=__fake__.Page  send" in render_text(trace)
    assert len(filter_trace(trace, senders=["Page"])["events"]) == 1
    assert unknown_sender("Page", ["__fake__.Page"]) is None


# ----------------------------------------------------------- one matching rule

SIGNAL_NAMES = [
    "book_published",
    "signals.book_published",
    PUBLISHED,
    "book_archived",
    "app.signals.book_archived",
    "archived",
    "published",
]
SENDER_NAMES = [
    "Book",
    "models.Book",
    "tests.app.models.Book",
    "Author",
    "Boo",
    "None",
    "tenant-a",
    "<TestAppConfig: testapp>",
]


@pytest.fixture(params=[False, True], ids=["described", "live"])
def varied_trace(request: pytest.FixtureRequest) -> signaltrace.Trace:
    """Sends of two signals from a model, None, a string and an app config."""
    with signaltrace.capture(keep_values=request.param, record_unreceived=True) as t:
        book_archived.send(sender=Author, n=1)
        book_archived.send(sender=None, n=2)
        book_archived.send(sender="tenant-a", n=3)
        book_archived.send(sender=apps.get_app_config("testapp"), n=4)
        receivers.book_published.send(sender=Author, title="Dune", n=5)
    return t


def numbered(events: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """Signal, sender and number of the sends varied_trace made itself."""
    return [
        (event["signal"], event["sender"], event["kwargs"]["n"])
        for event in events
        if "n" in event["kwargs"]
    ]


@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_signal_filter_selects_the_sends_trace_filter_selects(
    varied_trace: signaltrace.Trace, name: str
) -> None:
    by_trace = numbered(events_to_dicts(varied_trace.filter(name), 0.0))

    by_command = filter_trace(varied_trace.to_dict(), signals=[name])["events"]

    assert numbered(by_command) == by_trace


@pytest.mark.parametrize("name", SENDER_NAMES)
def test_sender_filter_selects_the_sends_trace_filter_selects(
    varied_trace: signaltrace.Trace, name: str
) -> None:
    by_trace = numbered(events_to_dicts(varied_trace.filter(sender=name), 0.0))

    by_command = filter_trace(varied_trace.to_dict(), senders=[name])["events"]

    assert numbered(by_command) == by_trace


def test_a_string_senders_description_selects_it_in_a_trace_with_live_values() -> None:
    with signaltrace.capture(keep_values=True, record_unreceived=True) as trace:
        book_archived.send(sender="tenant-a")

    by_command = filter_trace(trace.to_dict(), senders=["'tenant-a'"])["events"]

    assert len(trace.filter(sender="'tenant-a'")) == len(by_command) == 1


def test_signal_and_sender_options_select_the_sends_trace_filter_selects(
    run: Runner,
) -> None:
    with signaltrace.capture() as trace:
        call_command("publishbook", "Dune", stdout=StringIO())
    expected = [
        (event.name, event.sender_name, dict(event.kwargs))
        for event in trace.filter("book_announced", "Book")
    ]

    run(
        "--json",
        "--signal",
        "book_announced",
        "--sender",
        "Book",
        "publishbook",
        "Dune",
    )

    assert expected
    assert [
        (event["signal"], event["sender"], event["kwargs"])
        for event in run.json()["events"]
    ] == expected


# ---------------------------------------------------------------------- width


def test_text_is_cut_to_100_columns_when_the_output_is_not_a_terminal(
    run: Runner, archived_heard: None
) -> None:
    run("shell", "-c", ARCHIVE_LONG)

    assert report_width(run) == 100
    assert line_starting(run.lines, "│    a=aaa").endswith("…")


def test_text_fits_the_terminal_width(
    archived_heard: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    run = Runner(Terminal())

    run("--no-color", "shell", "-c", ARCHIVE_LONG)

    assert report_width(run) == 60


def test_width_option_sets_the_columns(run: Runner, archived_heard: None) -> None:
    run("--width", "70", "shell", "-c", ARCHIVE_LONG)

    assert report_width(run) == 70


def test_width_0_cuts_nothing(run: Runner, archived_heard: None) -> None:
    run("--width", "0", "shell", "-c", ARCHIVE_LONG)

    line = line_starting(run.lines, "tests.app.signals.book_archived")
    assert line.endswith(f"d={'d' * 30}")


def test_negative_width_is_an_error(run: Runner) -> None:
    with pytest.raises(CommandError, match="--width is a number of columns"):
        run("--width", "-1", "publishbook", "Dune")


def test_kwargs_that_fit_stay_on_the_sends_line() -> None:
    trace = _trace_dict(1)
    trace["events"][0]["kwargs"] = {"title": "Dune"}

    lines = render_text(trace, width=60).splitlines()

    assert lines[0] == "signals.s0  sender=None  send  1.000 ms  title=Dune"


def test_kwargs_that_do_not_fit_go_on_a_line_of_their_own() -> None:
    trace = _trace_dict(1)
    trace["events"][0]["kwargs"] = {"title": "Dune", "subtitle": "x" * 20}

    lines = render_text(trace, width=60).splitlines()

    assert lines[:3] == [
        "signals.s0  sender=None  send  1.000 ms",
        f"│    title=Dune, subtitle={'x' * 20}",
        "└─ r0  1.000 ms",
    ]


def test_an_error_that_does_not_fit_goes_on_a_line_of_its_own() -> None:
    trace = _trace_dict(1)
    trace["events"][0]["receivers"][0]["error"] = "ValueError: " + "no " * 20

    lines = render_text(trace, width=60).splitlines()

    assert lines[1:3] == [
        "└─ r0  1.000 ms",
        "        raised ValueError: " + "no " * 10 + "no…",
    ]


def test_a_line_still_too_wide_is_cut_with_an_ellipsis() -> None:
    trace = _trace_dict(1)
    trace["events"][0]["sender"] = "shop.models." + "Order" * 20

    line = render_text(trace, width=60).splitlines()[0]

    assert line == "signals.s0  sender=shop.models." + "Order" * 5 + "Ord…"


def test_a_cut_inside_a_colour_closes_it() -> None:
    line = f"{ERROR}{'x' * 20}{RESET} tail"

    assert fit(line, 10) == f"{ERROR}{'x' * 9}…{RESET}"
    assert fit(line, 30) == line


def test_long_values_repeated_from_the_previous_send_of_the_signal_are_counted() -> (
    None
):
    trace = _trace_dict(1, 1)
    for event in trace["events"]:
        event["signal"] = "signals.s"
        event["kwargs"] = {"stdout": "<OutputWrapper of sys.stdout>", "step": 1}

    lines = render_text(trace).splitlines()

    assert lines[0].endswith("  stdout=<OutputWrapper of sys.stdout>, step=1")
    assert lines[2].endswith("  step=1, +1 as before")


def test_a_value_of_another_signal_is_not_a_repeat() -> None:
    trace = _trace_dict(1, 1)
    for event in trace["events"]:
        event["kwargs"] = {"stdout": "<OutputWrapper of sys.stdout>"}

    lines = render_text(trace).splitlines()

    assert lines[2].endswith("  stdout=<OutputWrapper of sys.stdout>")


def test_verbosity_2_cuts_nothing_and_shows_every_value() -> None:
    trace = _trace_dict(1, 1)
    for event in trace["events"]:
        event["signal"] = "signals.s"
        event["kwargs"] = {"stdout": "<OutputWrapper of sys.stdout>" * 3}

    lines = render_text(trace, verbosity=2, width=40).splitlines()

    shown = [line.lstrip(" │") for line in lines if "stdout=" in line]
    assert shown == [f"stdout={'<OutputWrapper of sys.stdout>' * 3}"] * 2


def test_findings_wrap_to_the_width() -> None:
    trace = _trace_dict(1)
    message = "shop.receivers.r on order_paid took 50.0 ms: " + "defer it " * 10
    trace["findings"] = [
        {"code": "slow-receiver", "message": message, "event": 0, "receiver": 0}
    ]

    lines = render_text(trace, width=60).splitlines()

    findings = lines[lines.index("Findings (1):") + 1 :]
    assert findings[0].startswith("  slow-receiver  shop.receivers.r on order_paid")
    assert all(line.startswith("      ") for line in findings[1:])
    assert max(len(line) for line in findings) <= 60
    assert " ".join(line.strip() for line in findings) == (
        f"slow-receiver  {message.strip()}"
    )


# --------------------------------------------------------------------- colour


def test_force_color_colours_errors(run: Runner) -> None:
    run("--force-color", "publishbook", "", "--robust")

    assert f"{ERROR}raised ValueError: a book needs a title" in run.stdout


def test_no_color_prints_no_escape_codes(run: Runner) -> None:
    run("--no-color", "publishbook", "", "--robust")

    assert "\x1b[" not in run.stdout


def test_slow_receivers_are_flagged(run: Runner) -> None:
    with override_settings(SIGNALTRACE={"SLOW_RECEIVER_MS": 0}):
        run("--force-color", "publishbook", "Dune")

    line = line_starting(run.lines, "├─ tests.app.receivers.reject_untitled")
    assert WARNING in line
    assert " ms slow" in line


def test_fast_receivers_are_not_flagged(run: Runner) -> None:
    with override_settings(SIGNALTRACE={"SLOW_RECEIVER_MS": 1e9}):
        run("publishbook", "Dune")

    assert " slow" not in run.stdout


def test_colour_follows_the_terminal(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("django.core.management.color.supports_color", lambda: True)

    run("publishbook", "Dune")

    assert "\x1b[" in run.stdout


def test_no_color_environment_variable_turns_colour_off(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr("django.core.management.color.supports_color", lambda: True)

    run("publishbook", "Dune")

    assert "\x1b[" not in run.stdout


def test_force_color_wins_over_no_color_environment_variable(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")

    run("--force-color", "publishbook", "Dune")

    assert "\x1b[" in run.stdout


# ---------------------------------------------------------------- --receivers


def receiver_line(run: Runner, signal: str, name: str) -> str:
    lines = run.lines
    start = lines.index(signal)
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        if line.startswith(f"  {name}  "):
            return line
    raise AssertionError(f"{name} not listed under {signal}:\n{run.stdout}")


def test_receivers_lists_djangos_own_receivers(run: Runner) -> None:
    run("--receivers", "--width", "0")

    line = receiver_line(
        run,
        "django.db.models.signals.post_migrate",
        "django.contrib.auth.management.create_permissions",
    )
    assert "django/contrib/auth/management/__init__.py:" in line
    assert "sender=any  weak  sync" in line
    assert line.endswith(
        "dispatch_uid=django.contrib.auth.management.create_permissions"
    )


def test_receivers_lists_the_projects_receivers_with_source_line(
    run: Runner,
) -> None:
    run("--receivers", "--width", "0")

    line = receiver_line(run, PUBLISHED, "tests.app.receivers.reject_untitled")
    code = receivers.reject_untitled.__code__
    assert f"({code.co_filename}:{code.co_firstlineno})" in line


def test_receivers_shows_the_sender_a_receiver_is_limited_to(run: Runner) -> None:
    run("--receivers", "--width", "0")

    line = receiver_line(run, PUBLISHED, "tests.app.receivers.announce")
    assert "sender=tests.app.models.Book  weak  sync  dispatch_uid=announce-book" in (
        line
    )


def test_receivers_resolves_app_config_senders(run: Runner) -> None:
    run("--receivers", "--width", "0", "--signal", "pre_migrate")

    line = receiver_line(
        run,
        "django.db.models.signals.pre_migrate",
        "django.contrib.contenttypes.management.inject_rename_contenttypes_operations",
    )
    assert "sender=<ContentTypesConfig: contenttypes>" in line


def test_receivers_shows_strong_partials_and_callable_objects(run: Runner) -> None:
    run("--receivers", "--width", "0", "--signal", "book_published")

    partial = receiver_line(
        run, PUBLISHED, "functools.partial(tests.app.receivers.record)"
    )
    assert "sender=any  strong  sync" in partial
    assert "tests/app/receivers.py:" in partial
    callable_object = receiver_line(
        run, PUBLISHED, "tests.app.receivers.Ledger.__call__"
    )
    assert "sender=any  weak  sync" in callable_object


def test_receivers_signal_filter_lists_only_that_signal(run: Runner) -> None:
    run("--receivers", "--signal", "book_published")

    assert run.lines[0] == PUBLISHED
    assert run.lines[-1] == "Summary: 4 receivers on 1 signal"


def test_receivers_exclude_signal_leaves_it_out(run: Runner) -> None:
    run("--receivers", "--exclude-signal", "book_published")

    assert PUBLISHED not in run.lines
    assert ANNOUNCED in run.lines


def test_receivers_json_lists_each_receiver(run: Runner) -> None:
    run("--receivers", "--json", "--signal", "book_announced")

    code = receivers.log_announcement.__code__
    assert run.json() == [
        {
            "signal": ANNOUNCED,
            "receiver": "tests.app.receivers.log_announcement",
            "source": {
                "file": code.co_filename,
                "line": code.co_firstlineno,
                "function": "log_announcement",
            },
            "sender": None,
            "weak": True,
            "dispatch_uid": None,
            "is_async": False,
        }
    ]


def test_receivers_reports_async_receivers_as_django_dispatches_them() -> None:
    async def on_archived(sender: object, **kwargs: Any) -> None:
        pass

    book_archived.connect(on_archived)
    try:
        (listed,) = connected_receivers(signals=["book_archived"])
    finally:
        book_archived.disconnect(on_archived)

    # Django 4.2 calls every receiver synchronously.
    assert listed.is_async is (django.VERSION >= (5, 0))


def test_receivers_skips_dead_weak_references() -> None:
    def short_lived(sender: object, **kwargs: Any) -> None:
        pass

    book_archived.connect(short_lived)
    del short_lived
    gc.collect()

    assert len(book_archived.receivers) == 1  # Django has not cleared it yet
    assert connected_receivers(signals=["book_archived"]) == []
    book_archived.receivers.clear()


def test_receivers_names_an_unreachable_sender_by_id() -> None:
    def on_archived(sender: object, **kwargs: Any) -> None:
        pass

    sender = object()
    book_archived.connect(on_archived, sender=sender)
    try:
        (listed,) = connected_receivers(signals=["book_archived"])
    finally:
        book_archived.disconnect(on_archived, sender=sender)

    assert listed.sender == f"<unknown sender id={id(sender):#x}>"


def test_receivers_shows_an_instance_method_receiver() -> None:
    ledger = receivers.Ledger()
    book_archived.connect(ledger.__call__, dispatch_uid="ledger")
    try:
        (listed,) = connected_receivers(signals=["book_archived"])
    finally:
        book_archived.disconnect(dispatch_uid="ledger")

    assert listed.name == "tests.app.receivers.Ledger.__call__"
    assert listed.weak
    assert listed.dispatch_uid == "ledger"


def test_receivers_sender_filter_keeps_those_for_that_sender_and_for_any(
    run: Runner,
) -> None:
    run("--receivers", "--json", "--signal", "book_published", "--sender", "Author")
    for_author = {entry["receiver"] for entry in run.json()}
    run.out = StringIO()
    run("--receivers", "--json", "--signal", "book_published", "--sender", "Book")
    for_book = {entry["receiver"] for entry in run.json()}

    assert for_book - for_author == {"tests.app.receivers.announce"}
    assert "tests.app.receivers.reject_untitled" in for_author


def test_receivers_unknown_signal_is_an_error(run: Runner) -> None:
    with pytest.raises(CommandError) as raised:
        run("--receivers", "--signal", "book_publishd")

    assert str(raised.value) == (
        "--signal: no signal named 'book_publishd' exists in this process; "
        f"did you mean '{PUBLISHED}'?"
    )
    assert run.stdout == ""


def test_receivers_unknown_sender_is_an_error(run: Runner) -> None:
    with pytest.raises(CommandError, match=r"^--sender: no sender named 'Boook'"):
        run("--receivers", "--sender", "Boook")


def test_receivers_shortens_a_long_path_to_fit(run: Runner) -> None:
    run("--receivers", "--width", "90", "--signal", "book_published")

    line = receiver_line(run, PUBLISHED, "tests.app.receivers.reject_untitled")
    code = receivers.reject_untitled.__code__
    assert len(line) == 90
    assert line.endswith(
        f"/app/receivers.py:{code.co_firstlineno})  sender=any  weak  sync"
    )
    assert "  (…" in line


def test_receivers_takes_no_command(run: Runner) -> None:
    with pytest.raises(CommandError, match="--receivers runs no command"):
        run("--receivers", "migrate")
