"""What a health check returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, as a row of the status page."""

    name: str
    ok: bool
    detail: str
