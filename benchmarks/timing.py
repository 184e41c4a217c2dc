"""What the benchmarks share: a timing repeated several times, read by its minimum."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass
class Timing:
    """Seconds per operation over several repeats."""

    samples: list[float]

    @property
    def best(self) -> float:
        """The minimum: the run least disturbed by the rest of the machine."""
        return min(self.samples)

    @property
    def median(self) -> float:
        """The median, to show how noisy the runs were."""
        return statistics.median(self.samples)
