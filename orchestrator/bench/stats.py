"""Summary statistics of repeated measurements."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Spread:
    """Median and range of repeated measurements."""

    median: float
    low: float
    high: float
    samples: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, samples: list[float]) -> "Spread":
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), list(samples))

    @property
    def relative_spread(self) -> float:
        """(max - min) / median: how noisy the repeats were."""
        return (self.high - self.low) / self.median if self.median else 0.0
