"""``manage.py signaltrace``: trace any management command, or list what is connected.

::

    python manage.py signaltrace migrate --noinput
    python manage.py signaltrace --json loaddata books > trace.json
    python manage.py signaltrace --receivers --signal post_save

The traced command runs in this process, under :func:`signaltrace.capture`,
with its arguments parsed by its own parser exactly as ``manage.py`` would.
signaltrace's own options go before the command's name.

A name given to ``--signal``, ``--exclude-signal`` or ``--sender`` that
matches nothing known in the process is an error (see
:func:`signaltrace.receivers.unknown_signal` and
:func:`~signaltrace.receivers.unknown_sender`): a typo would otherwise show an
empty report. The text is cut to the terminal's width (100 columns when the
output is not a terminal), or to ``--width``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO, cast
from uuid import uuid4

from django.core.management import ManagementUtility
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    OutputWrapper,
)
from django.core.management.color import no_style

from signaltrace import capture
from signaltrace.assertions import SignalTrace
from signaltrace.history import HistoryEntry, report
from signaltrace.receivers import connected_receivers, unknown_sender, unknown_signal
from signaltrace.render import filter_trace, render_receivers, render_text
from signaltrace.trace import Trace

logger = logging.getLogger("signaltrace")


class Command(BaseCommand):
    help = (
        "Run a management command and print the signals it sent: a tree of sends "
        "and receivers with durations, then a summary. With --receivers, list "
        "every connected receiver instead."
    )
    # The traced command runs its own checks, as it would without us.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "command", nargs="?", help="The management command to trace."
        )
        parser.add_argument(
            "args",
            nargs=argparse.REMAINDER,
            help="The command's own arguments, passed through untouched.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the trace as JSON; the command's own output goes to stderr.",
        )
        parser.add_argument(
            "--output", metavar="FILE", help="Also write the trace as JSON to FILE."
        )
        parser.add_argument(
            "--signal",
            action="append",
            default=[],
            metavar="NAME",
            help="Only show this signal (dotted path or last part). Repeatable.",
        )
        parser.add_argument(
            "--exclude-signal",
            action="append",
            default=[],
            metavar="NAME",
            help="Hide this signal (dotted path or last part). Repeatable.",
        )
        parser.add_argument(
            "--sender",
            action="append",
            default=[],
            metavar="NAME",
            help="Only show sends from this sender (dotted path or last part), "
            "or with --receivers the receivers such a send reaches. Repeatable.",
        )
        parser.add_argument(
            "--min-duration",
            type=float,
            metavar="MS",
            help="Hide sends that took less than MS milliseconds.",
        )
        parser.add_argument(
            "--receivers",
            action="store_true",
            help="List the receivers connected to every signal, run no command.",
        )
        parser.add_argument(
            "--library-findings",
            action="store_true",
            help="List the findings about receivers of Django and installed "
            "packages one by one, instead of summing them up (the "
            "LIBRARY_FINDINGS setting).",
        )
        parser.add_argument(
            "--width",
            type=int,
            metavar="COLUMNS",
            help="Cut the text's lines to COLUMNS characters (default: the "
            "terminal's width, 100 when the output is not a terminal; 0: no limit).",
        )

    #: What went wrong reporting the trace of a command that failed, to be
    #: said after the command's own error (see run_from_argv()).
    _after_failure = ""

    def run_from_argv(self, argv: list[str]) -> None:
        """Run from the command line, saying a report's problem after the failure.

        Django writes a ``CommandError`` and exits with its status inside this
        method; Python prints any other exception as the program ends.
        """
        try:
            super().run_from_argv(argv)
        except SystemExit:
            self._say_after_failure()
            raise
        except BaseException:
            atexit.register(self._say_after_failure)
            raise

    def _say_after_failure(self) -> None:
        if self._after_failure:
            self.stderr.write(self._after_failure)
            self._after_failure = ""

    def handle(self, *args: str, **options: Any) -> None:
        # Django's colour support ignores NO_COLOR (https://no-color.org); an
        # explicit --force-color still wins over the environment.
        if os.environ.get("NO_COLOR") and not options["force_color"]:
            self.style = no_style()
        if options["width"] is not None and options["width"] < 0:
            raise CommandError("--width is a number of columns, or 0 for no limit.")
        if options["receivers"]:
            if options["command"]:
                raise CommandError("--receivers runs no command: leave out the name.")
            self._list_receivers(options)
            return
        name = options["command"]
        if not name:
            raise CommandError(
                "Name the command to trace (e.g. `signaltrace migrate`), "
                "or list the connected receivers with --receivers."
            )
        self._trace(name, list(args), options)

    def _trace(self, name: str, argv: list[str], options: dict[str, Any]) -> None:
        """Run command *name* with *argv* under a capture, then report.

        A failure (an exception, or ``SystemExit`` with a non-zero status) is
        re-raised after the report, so that Django prints it and sets the exit
        status exactly as it would for the command alone.
        """
        stdout, stderr = _stream(self.stdout), _stream(self.stderr)
        command_stdout = stderr if options["json"] else stdout
        from_command_line = getattr(self, "_called_from_command_line", False)
        prog = os.path.basename(sys.argv[0]) if from_command_line else "manage.py"
        # The command's OutputWrappers take sys.stdout/stderr when it is created.
        with _redirected(command_stdout, stderr):
            command = ManagementUtility([prog, name]).fetch_command(name)
            command._called_from_command_line = from_command_line  # type: ignore[attr-defined]
            parsed = vars(command.create_parser(prog, name).parse_args(argv))

        tracing = capture()
        if options["library_findings"]:
            config = tracing.trace.config
            tracing.trace.config = config.with_overrides(LIBRARY_FINDINGS=True)
        failure: BaseException | None = None
        try:
            with _redirected(command_stdout, stderr), tracing:
                command.execute(*parsed.pop("args", ()), **parsed)
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                failure = exit_
        except BaseException as error:
            failure = error
        trace = tracing.trace
        _keep(trace, name, failure)
        try:
            problem = _unknown_names(options, trace)
            if not problem:
                problem = self._report(trace, options)
        except Exception as error:  # the command's own outcome must stand
            problem = f"signaltrace could not report the trace: {error!r}"
        # The traced command's status and exception always win: a problem of
        # the report is said after it, and only fails a command that passed.
        if failure is not None:
            if problem and from_command_line:
                self._after_failure = problem  # said by run_from_argv()
            elif problem:
                self.stderr.write(problem)
            raise failure
        if problem:
            raise CommandError(problem)

    def _report(self, trace: Trace, options: dict[str, Any]) -> str:
        """Write the trace, filtered; return what went wrong writing it, or ""."""
        data = filter_trace(
            trace.to_dict(),
            signals=options["signal"],
            exclude_signals=options["exclude_signal"],
            senders=options["sender"],
            min_duration_ms=options["min_duration"],
        )
        return self._write(
            data,
            lambda: render_text(
                data,
                style=self.style,
                verbosity=options["verbosity"],
                slow_ms=trace.config.SLOW_RECEIVER_MS,
                width=self._width(options),
            ),
            options,
        )

    def _list_receivers(self, options: dict[str, Any]) -> None:
        problem = _unknown_names(options)
        if problem:
            raise CommandError(problem)
        listed = connected_receivers(
            signals=options["signal"],
            exclude_signals=options["exclude_signal"],
            senders=options["sender"],
        )
        problem = self._write(
            [connected.to_dict() for connected in listed],
            lambda: render_receivers(
                listed, style=self.style, width=self._width(options)
            ),
            options,
        )
        if problem:
            raise CommandError(problem)

    def _width(self, options: dict[str, Any]) -> int | None:
        """The columns the text must fit in, or None for no limit.

        ``--width`` if given (0 for no limit); else the terminal's width when
        the output is a terminal, and 100 columns when it is not (a file, a
        pipe), so that what is saved reads the same everywhere.
        """
        width: int | None = options["width"]
        if width is not None:
            return width or None
        if self.stdout.isatty():
            return shutil.get_terminal_size(fallback=(_WIDTH, 24)).columns
        return _WIDTH

    def _write(
        self, data: Any, text: Callable[[], str], options: dict[str, Any]
    ) -> str:
        """Write *data* as JSON (stdout, --output file) or call *text* for the text.

        Returns what went wrong writing the ``--output`` file, or "".
        """
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(text())
        if options["output"]:
            try:
                with open(options["output"], "w", encoding="utf-8") as file:
                    json.dump(data, file, indent=2)
                    file.write("\n")
            except OSError as error:
                return f"Cannot write the trace to {options['output']}: {error}"
        return ""


#: The width of the text when the output is not a terminal.
_WIDTH = 100


def _keep(trace: SignalTrace, name: str, failure: BaseException | None) -> None:
    """Hand the command's trace to the history (the viewer's, with a shared
    store) and the ``signaltrace`` log.

    Its arguments are left out: they may hold a secret.
    """
    try:
        report(
            HistoryEntry(
                trace,
                trace_id=uuid4().hex,
                kind="command",
                name=name,
                outcome="SUCCESSFUL" if failure is None else "FAILED",
            )
        )
    except Exception:
        logger.exception("signaltrace could not keep the trace of %s", name)


def _unknown_names(options: dict[str, Any], trace: Trace | None = None) -> str:
    """What the ``--signal``, ``--exclude-signal`` and ``--sender`` options name
    that nothing in the process does, one line each, or "".

    The signals and senders of *trace* count as known, with those of the
    process (see :mod:`signaltrace.receivers`). Checked once the traced
    command has run, so that the modules it imports are loaded.
    """
    signals: set[str] = set()
    senders: set[str] = set()
    if trace is not None:
        signals.update(event.name for event in trace.events)
        senders.update(event.sender_name for event in trace.events)
        for signal, sender in trace.counts:
            signals.add(signal)
            senders.add(sender)
    problems = []
    for option in ("signal", "exclude_signal"):
        for name in options[option]:
            reason = unknown_signal(name, signals)
            if reason:
                problems.append(f"--{option.replace('_', '-')}: {reason}")
    for name in options["sender"]:
        reason = unknown_sender(name, senders)
        if reason:
            problems.append(f"--sender: {reason}")
    return "\n".join(problems)


@contextlib.contextmanager
def _redirected(stdout: TextIO, stderr: TextIO) -> Iterator[None]:
    """Send ``sys.stdout`` and ``sys.stderr`` to these streams.

    The traced command's ``print()`` must land where its ``self.stdout`` does.
    """
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        yield


def _stream(wrapper: OutputWrapper) -> TextIO:
    """The stream an OutputWrapper writes to (``print()`` must go there too)."""
    return cast(TextIO, wrapper._out)
