"""The snapshot files of a test: where they go, what they leave out, comparing them.

The pytest plugin sets a :class:`SnapshotTarget` for every test of every
project that has the package installed, so this module imports nothing of
Django nor of the rest of signaltrace: a test run that does not use Django
does not load it. :mod:`signaltrace.snapshot` renders the text that
:func:`assert_matches` compares, and re-exports the names defined here.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

__all__ = [
    "Normalize",
    "Normalizer",
    "Replacement",
    "SnapshotOptions",
    "SnapshotTarget",
    "assert_matches",
    "current_target",
    "targeting",
]

#: A normalisation rule: takes one line of a snapshot, returns it normalised.
Normalizer = Callable[[str], str]
#: A replacement, as :func:`re.sub` takes it: text, or a function of the match.
Replacement = str | Callable[[re.Match[str]], str]
#: What ``normalize`` accepts: regular expressions (text or compiled) mapped to
#: their replacements, or one :data:`Normalizer`.
Normalize = (
    Mapping[str, Replacement] | Mapping[re.Pattern[str], Replacement] | Normalizer
)


@dataclass(frozen=True, init=False)
class SnapshotOptions:
    """What a snapshot leaves out and how it normalises its text, beyond the
    fixed rules of :func:`signaltrace.snapshot.render`::

        SnapshotOptions(
            exclude=["task_enqueued", "task_started", "task_finished"],
            normalize={r"\\b[0-9a-f]{32}\\b": "<id>"},
        )

    Arguments:
        exclude: the signals whose sends are left out, as a name or a list of
            names matched as the assertions match them: a bare name matches
            the last part of the dotted path (``"task_started"``), a dotted
            one its end (``"signals.task_started"``). The sends their
            receivers made stay, under the nearest send kept, as with the
            command's ``--exclude-signal``.
        normalize: applied to each line of the text, after the fixed rules:
            a mapping of regular expressions to their replacements, applied in
            order (each a :func:`re.sub`, so ``\\1`` in a replacement is the
            first group), or a callable that takes a line and returns it
            normalised.

    Raises:
        TypeError: when *exclude* is not a name or names, or *normalize* not a
            mapping or a callable.
        ValueError: when a pattern of *normalize* is not a valid regular
            expression.
    """

    #: The names of the signals left out.
    exclude: tuple[str, ...]
    #: The rules applied to each line, in order.
    normalize: tuple[Normalizer, ...]

    def __init__(
        self, exclude: str | Iterable[str] = (), normalize: Normalize | None = None
    ) -> None:
        object.__setattr__(self, "exclude", _names(exclude))
        object.__setattr__(self, "normalize", _rules(normalize))

    def extended(
        self, exclude: str | Iterable[str] = (), normalize: Normalize | None = None
    ) -> SnapshotOptions:
        """These options with more signals left out and more rules applied
        after these (arguments as for the class)."""
        more = SnapshotOptions(exclude, normalize)
        extended = SnapshotOptions()
        object.__setattr__(extended, "exclude", self.exclude + more.exclude)
        object.__setattr__(extended, "normalize", self.normalize + more.normalize)
        return extended

    def normalized(self, line: str) -> str:
        """Return *line* with every rule of :attr:`normalize` applied in turn."""
        for rule in self.normalize:
            line = rule(line)
        return line


def _names(exclude: str | Iterable[str]) -> tuple[str, ...]:
    names = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"exclude takes signal names, got {name!r}: write the name, "
                'such as "task_started".'
            )
    return names


def _rules(normalize: Normalize | None) -> tuple[Normalizer, ...]:
    if normalize is None:
        return ()
    if isinstance(normalize, Mapping):
        return tuple(
            _substitution(pattern, replacement)
            for pattern, replacement in normalize.items()
        )
    if callable(normalize):
        return (normalize,)
    raise TypeError(
        "normalize takes a mapping of regular expressions to replacements, or a "
        f"callable that normalises a line; got {normalize!r}."
    )


def _substitution(
    pattern: str | re.Pattern[str], replacement: Replacement
) -> Normalizer:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ValueError(
            f"normalize pattern {pattern!r} is not a valid regular expression: {error}"
        ) from None
    return functools.partial(compiled.sub, replacement)


@dataclass
class SnapshotTarget:
    """Where the running test's snapshots go; the pytest plugin sets one per test.

    Attributes:
        directory: the folder of the snapshot files.
        name: the file name for the test's first snapshot, without ``.txt``;
            later ones in the same test get ``.2``, ``.3``...
        update: rewrite snapshots that differ instead of failing.
        options: what the test's snapshots leave out and normalise (the ini
            options and the test's ``signaltrace_snapshot`` markers).
        used: how many snapshots the test has asserted so far.
        notes: one line per file written or rewritten, for the test summary.
    """

    directory: Path
    name: str
    update: bool = False
    options: SnapshotOptions = field(default_factory=SnapshotOptions)
    used: int = 0
    notes: list[str] = field(default_factory=list)

    def next_path(self) -> Path:
        """Return the file for the next snapshot of this test."""
        self.used += 1
        suffix = "" if self.used == 1 else f".{self.used}"
        return self.directory / f"{self.name}{suffix}.txt"


_target: SnapshotTarget | None = None


def current_target() -> SnapshotTarget | None:
    """The target of the running test, or None outside a pytest test."""
    return _target


@contextmanager
def targeting(target: SnapshotTarget) -> Iterator[SnapshotTarget]:
    """Make *target* the current one while the block runs.

    A module global rather than a context variable: the test body may run in
    another context (an event loop's), and pytest runs one test at a time per
    process.
    """
    global _target
    previous, _target = _target, target
    try:
        yield target
    finally:
        _target = previous


def assert_matches(text: str, path: str | PathLike[str] | None = None) -> None:
    """Compare *text* with a snapshot file, writing the file when it is missing.

    Arguments:
        text: the rendering to check, from :func:`signaltrace.snapshot.render`.
        path: the snapshot file; by default the running test's next one (see
            :class:`SnapshotTarget`).

    Raises:
        AssertionError: with a unified diff, when the file differs (unless the
            target asks for updates, which rewrites the file).
        RuntimeError: when no *path* is given outside a pytest test.
    """
    __tracebackhide__ = True
    target = _target
    if path is not None:
        file = Path(path)
    elif target is not None:
        file = target.next_path()
    else:
        raise RuntimeError(
            "assert_matches_snapshot() names its file after the running pytest "
            "test; outside pytest, pass a path."
        )
    update = target is not None and target.update
    try:
        stored: str | None = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        stored = None
    if stored == text:
        return
    if stored is None or update:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8", newline="\n")
        if target is not None:
            action = "wrote new" if stored is None else "updated"
            target.notes.append(f"{action} snapshot {_display(file)}")
        return
    diff = difflib.unified_diff(
        stored.splitlines(),
        text.splitlines(),
        fromfile=f"{_display(file)} (snapshot)",
        tofile="this run",
        lineterm="",
    )
    raise AssertionError(
        f"The signals sent differ from the snapshot {_display(file)}.\n"
        "Run pytest with --signaltrace-update to accept the new ones.\n"
        + "\n".join(diff)
    )


def _display(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(file)
