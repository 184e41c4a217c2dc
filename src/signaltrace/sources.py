"""Whose code a file is: the project's, or a library's (Django, the standard library,
an installed package).

Findings about library receivers are summed up (:mod:`signaltrace.insights`),
and a send's "sent from" is the first frame of the project's own code
(:mod:`signaltrace.dispatch`): both ask here, once per file.
"""

from __future__ import annotations

import functools
import os
import site
import sys
import sysconfig
from typing import Literal

import asgiref
import django

__all__ = ["Origin", "is_library_file", "origin"]


#: Where a file's code comes from (see :func:`origin`).
Origin = Literal["project", "package", "framework"]


@functools.lru_cache(maxsize=4096)
def origin(filename: str) -> Origin:
    """Whose code *filename* is.

    - ``"framework"``: Django's, the standard library's, asgiref's (Django's
      own plumbing) or signaltrace's;
    - ``"package"``: any other installed package's: in a ``site-packages``
      or ``dist-packages`` directory (the interpreter's, the user's, or any
      other of that name);
    - ``"project"``: everything else, packages installed in editable mode
      from a checkout and code without a file (``"<string>"``) included.

    The standard library's frozen modules (``"<frozen runpy>"``) are the
    framework's.
    """
    if filename.startswith("<frozen "):  # the standard library's, built in
        return "framework"
    if filename.startswith("<"):  # "<string>", "<stdin>": no file
        return "project"
    path = os.path.normcase(os.path.realpath(filename))
    own, packages, standard = _directories()
    if path.startswith(own):
        return "framework"
    parts = set(path.split(os.sep))
    if "site-packages" in parts or "dist-packages" in parts:
        return "package"
    if path.startswith(packages):
        return "package"
    if path.startswith(standard):
        return "framework"
    return "project"


def is_library_file(filename: str) -> bool:
    """Whether *filename* is code of Django, the standard library or a package.

    It is when it lies in the standard library's directories, in a
    ``site-packages`` or ``dist-packages`` directory (the interpreter's, the
    user's, or any other of that name), or in Django's own package, wherever
    Django was installed from. Everything else is the project's code,
    packages installed in editable mode from a checkout included.
    """
    return origin(filename) != "project"


@functools.cache
def _directories() -> tuple[tuple[str, ...], ...]:
    """The directories of Django and its plumbing, of installed packages, and of
    the standard library, each ending with a separator, in the order they are
    looked at: Django is an installed package, and packages may be installed
    inside the standard library's directory (pyenv's)."""
    own = [
        *(os.path.dirname(module.__file__ or "") for module in (django, asgiref)),
        os.path.dirname(__file__),  # signaltrace's
    ]
    packages = [*site.getsitepackages(), site.getusersitepackages()]
    standard: list[str] = []
    bases = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    for paths in (sysconfig.get_paths(), sysconfig.get_paths(vars=bases)):
        packages.extend(paths[key] for key in ("purelib", "platlib") if key in paths)
        standard.extend(paths[key] for key in ("stdlib", "platstdlib") if key in paths)
    return _normalized(own), _normalized(packages), _normalized(standard)


def _normalized(directories: list[str]) -> tuple[str, ...]:
    return tuple(
        os.path.join(os.path.normcase(os.path.realpath(directory)), "")
        for directory in directories
        if directory
    )
