"""The shape of one metric (:class:`MetricSpec`), checked when it is declared."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Literal

Kind = Literal["counter", "gauge", "histogram", "info"]
# prometheus-client's multiprocess_mode of a gauge: how the workers' values merge.
MultiprocessMode = Literal["livesum", "liveall", "max"]

# The suffix prometheus-client adds to a family's name in the exposition.
_SUFFIXES: Final[Mapping[str, str]] = {"counter": "_total", "info": "_info"}


@dataclass(frozen=True)
class MetricSpec:
    """Everything that defines one metric's shape, in every exporter and document."""

    key: str  # short and stable: options (``histograms={"duration"}``) and code refer to it
    name: str  # as exposed: counters end in _total, info metrics in _info
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    # The Prometheus base unit the name ends in ("seconds", "bytes"); "" for counts.
    unit: str = ""
    buckets: tuple[float, ...] = ()  # histograms only: default upper bounds, +Inf implied
    # Gauges and info metrics (which are 0/1 gauges in multiprocess mode) only.
    multiprocess_mode: MultiprocessMode | None = None
    otel_name: str = ""
    otel_unit: str = ""  # UCUM, as OpenTelemetry spells it: "s", "By", "{request}"
    # OpenTelemetry records a histogram of each request's value with these advisory bounds and
    # the HTTP semantic conventions' attributes (their http.server.* instruments), even where
    # Prometheus counts a total.
    otel_buckets: tuple[float, ...] = ()
    # Left out of an export while it has no sample: a 0 there would claim something (that the
    # process served WSGI, that its capacity is known).
    sparse: bool = False
    # The labels in the lean preset (``series="lean"``, the default) when they are fewer: a fine
    # distribution kept for the whole server (by interface) rather than per route, whose per-route
    # totals are counters of their own. None: the same labels in every preset.
    lean_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # A malformed spec fails at import, before it can reach a scrape.
        suffix = _SUFFIXES.get(self.kind, "")
        checks = (
            (self.name.startswith("gatewatch_"), "the name must start with gatewatch_"),
            (
                self.name.endswith(suffix) if suffix else not self.name.endswith(("_total", "_info")),
                "counters (only) end in _total, info metrics (only) in _info",
            ),
            (not self.unit or self.family.endswith("_" + self.unit), "the name must end in its unit"),
            ((self.kind == "histogram") == bool(self.buckets), "histograms (only) have buckets"),
            (not self.buckets or buckets_valid(self.buckets), "buckets must be valid"),
            (
                (self.kind in ("gauge", "info")) == (self.multiprocess_mode is not None),
                "gauges and info metrics (only) have a multiprocess mode",
            ),
            (bool(self.otel_name and self.otel_unit), "an OpenTelemetry name and unit are required"),
            (
                self.lean_labels is None or set(self.lean_labels) < set(self.labels),
                "lean labels must be fewer of its labels",
            ),
            (
                not self.otel_buckets or buckets_valid(self.otel_buckets),
                "its OpenTelemetry buckets must be valid",
            ),
        )
        problems = [text for ok, text in checks if not ok]
        if problems:
            raise ValueError(f"catalogue entry {self.key!r}: {'; '.join(problems)}")

    @property
    def family(self) -> str:
        """The name prometheus-client's family constructors take (no ``_total``/``_info``)."""
        suffix = _SUFFIXES.get(self.kind)
        return self.name.removesuffix(suffix) if suffix else self.name


def buckets_valid(bounds: tuple[float, ...]) -> bool:
    """Finite, non-negative and strictly increasing (0 is a meaningful bound: no wait at all)."""
    return (
        bool(bounds)
        and all(math.isfinite(b) and b >= 0 for b in bounds)
        and all(a < b for a, b in pairwise(bounds))
    )
