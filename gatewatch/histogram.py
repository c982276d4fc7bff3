"""A lock-free-by-contract histogram: plain numbers, read when scraped.

The caller holds the lock that guards it; observing is a bisect and two additions.
"""

from __future__ import annotations

from bisect import bisect_left


class Histogram:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        # One slot per bucket plus +Inf; Prometheus buckets are "less than or equal".
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative_buckets(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs ending with ``+Inf``, as prometheus-client wants them."""
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            buckets.append((_float_label(bound), running))
        buckets.append(("+Inf", running + self.counts[-1]))
        return buckets


def _float_label(value: float) -> str:
    # prometheus-client spells bucket bounds with repr-style floats ("0.005", "1.0").
    return repr(float(value))
