"""Histograms: the running totals behind the single-process exporter (its caller holds the
lock that guards them), and the choice of which catalogue histogram families a process exports,
with which buckets.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Final, Literal, get_args

from gatewatch import catalogue


def new_series(bounds: tuple[float, ...]) -> list[float]:
    """A series' running totals: one count per bucket, +Inf's, then the sum of the values.

    A count (a counter, an info metric) is a series without bounds: its one bucket counts the
    additions, and the sum is its value. Observing is ``series[bisect_left(bounds, v)] += 1;
    series[-1] += v``, inline where it runs for every record.
    """
    series: list[float] = [0] * (len(bounds) + 1)
    series.append(0.0)
    return series


def add_values(series: list[float], bounds: tuple[float, ...], values: Sequence[float]) -> None:
    """Observe ``values`` (a batch of one series'), as ``series[bisect_left(bounds, v)] += 1;
    series[-1] += v`` for each would, with the per-value work in C.

    A bucket's count is how many values are at most its bound and above the previous one:
    positions in the values sorted (``sorted`` compares floats without a call), found a bound
    at a time, and no further than the last value (most land in the first buckets). The sum
    is added in the values' own order, as one addition at a time adds it.
    """
    if bounds and values:
        ordered = sorted(values)
        size = len(ordered)
        below = 0
        for index, bound in enumerate(bounds):
            upto = bisect_right(ordered, bound, below)
            if upto != below:
                series[index] += upto - below
                if upto == size:
                    break
                below = upto
        else:
            if below != size:
                series[len(bounds)] += size - below
    elif not bounds:
        series[0] += len(values)
    series[-1] = sum(values, series[-1])


def cumulative_buckets(bounds: tuple[float, ...], series: list[float]) -> list[tuple[str, float]]:
    """``(le, cumulative count)`` pairs ending with ``+Inf``, as prometheus-client wants them."""
    buckets: list[tuple[str, float]] = []
    running = 0.0
    for bound, count in zip(bounds, series, strict=False):
        running += count
        buckets.append((_float_label(bound), running))
    buckets.append(("+Inf", running + series[len(bounds)]))
    return buckets


def _float_label(value: float) -> str:
    # prometheus-client spells bucket bounds with repr-style floats ("0.005", "1.0").
    return repr(float(value))


# The series presets: "lean" keeps the fine distributions (blocking, CPU, offload, first byte,
# after the response) for the whole server and their totals per route; "full" keeps them per
# route as well (:attr:`gatewatch.catalogue.MetricSpec.lean_labels`).
Series = Literal["lean", "full"]
SERIES_PRESETS: Final[tuple[str, ...]] = get_args(Series)


@dataclass(frozen=True)
class HistogramChoice:
    """Which histogram families (catalogue keys) a process exports, with which buckets and
    labels (the ``series`` preset).

    Build it with :func:`histogram_choice`, which validates and normalises: ``buckets`` holds
    only overrides of enabled families that differ from the catalogue's defaults, so two
    choices with the same effect compare equal.
    """

    enabled: frozenset[str] = frozenset(catalogue.HISTOGRAM_KEYS)
    buckets: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: MappingProxyType({}))
    series: Series = "lean"

    def __hash__(self) -> int:
        # The generated hash would fail on the mapping; the choice is immutable all the same.
        return hash((self.enabled, tuple(sorted(self.buckets.items())), self.series))

    @cached_property
    def label_names(self) -> tuple[tuple[str, ...], ...]:
        """Per catalogue slot, the label names its series have under this preset."""
        lean = self.series == "lean"
        return tuple(
            spec.lean_labels if lean and spec.lean_labels is not None else spec.labels
            for spec in catalogue.METRICS
        )

    @cached_property
    def projections(self) -> tuple[tuple[int, ...] | None, ...]:
        """Per slot, the positions in a measurement's label values (the spec's labels) of the
        ones this preset keeps; None where it keeps them all."""
        return tuple(
            None if names == spec.labels else tuple(spec.labels.index(label) for label in names)
            for spec, names in zip(catalogue.METRICS, self.label_names, strict=True)
        )

    def project(self, slot: int, labels: tuple[str, ...]) -> tuple[str, ...]:
        """A measurement's label values (in its spec's labels) as this preset labels it."""
        positions = self.projections[slot]
        return labels if positions is None else tuple(labels[p] for p in positions)

    def bounds(self, key: str) -> tuple[float, ...] | None:
        """The buckets of family ``key``, or None when it is not exported."""
        if key not in self.enabled:
            return None
        override = self.buckets.get(key)
        return catalogue.metric(key).buckets if override is None else override

    def describe(self) -> str:
        """The choice as the options that make it, for error messages."""
        if self == DEFAULT_CHOICE:
            return "the default histograms"
        names = ", ".join(repr(k) for k in catalogue.HISTOGRAM_KEYS if k in self.enabled)
        text = f"histograms={{{names}}}"
        if self.buckets:
            text += f" buckets={dict(sorted(self.buckets.items()))}"
        return text if self.series == "lean" else f"{text} series={self.series!r}"


def histogram_choice(
    histograms: Iterable[str] | None = None,
    buckets: Mapping[str, Sequence[float]] | None = None,
    series: str = "lean",
) -> HistogramChoice:
    """Validate ``histograms`` (catalogue keys; None: all), ``buckets`` (per key overrides) and
    the ``series`` preset (:data:`SERIES_PRESETS`).

    ValueError names the option and the problem; TypeError a value of the wrong type. A
    trailing ``float("inf")`` in a bucket list is accepted and dropped (+Inf is always there).
    """
    known = catalogue.HISTOGRAM_KEYS
    if histograms is None:
        enabled = frozenset(known)
    else:
        if isinstance(histograms, str | bytes) or not isinstance(histograms, Iterable):
            raise TypeError(
                f"histograms must be a collection of family names such as {{'duration'}}, got {histograms!r}"
            )
        names = list(histograms)
        for name in names:
            if name not in known:
                raise ValueError(f"histograms: unknown family {name!r}; known: {', '.join(known)}")
        enabled = frozenset(names)
    overrides: dict[str, tuple[float, ...]] = {}
    if buckets is not None:
        if not isinstance(buckets, Mapping):
            raise TypeError(f"buckets must map family names to bucket bounds, got {buckets!r}")
        for key, bounds in buckets.items():
            if key not in known:
                raise ValueError(f"buckets: unknown family {key!r}; known: {', '.join(known)}")
            parsed = _bounds(key, bounds)
            if key in enabled and parsed != catalogue.metric(key).buckets:
                overrides[key] = parsed
    if series not in SERIES_PRESETS:
        raise ValueError(f"series must be one of {', '.join(map(repr, SERIES_PRESETS))}, got {series!r}")
    return HistogramChoice(enabled, MappingProxyType(overrides), series)  # type: ignore[arg-type]


def _bounds(key: str, bounds: object) -> tuple[float, ...]:
    # object: what a user passed, checked here (a compiled build trusts an annotation, and
    # would take a str for the Sequence[float] it is not).
    problem = f"buckets[{key!r}] must be strictly increasing non-negative numbers, got {bounds!r}"
    if isinstance(bounds, str | bytes) or not isinstance(bounds, Sequence):
        raise TypeError(problem)
    values: list[float] = []
    for bound in bounds:
        # bool is an int; a True bound is a mistake, not 1.0.
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise TypeError(problem)
        values.append(float(bound))
    if values and values[-1] == math.inf:
        values.pop()
    parsed = tuple(values)
    if not catalogue.buckets_valid(parsed):
        raise ValueError(problem)
    return parsed


# Every histogram family with the catalogue's buckets.
DEFAULT_CHOICE: Final = histogram_choice()
