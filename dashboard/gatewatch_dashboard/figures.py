"""What a view shows of one source over one window: the figures every tab formats.

:mod:`gatewatch_dashboard.window` computes a :class:`SourceFigures` per source from the
readings kept (the difference of cumulative counters between the first and the last reading
of the window) so that every figure of a view covers the same :class:`Span`, and says which.
Gauges (in flight, workers busy, the loop's lag now) are "now", not windowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gatewatch_dashboard.counters import SessionCounters
from gatewatch_dashboard.model import InterfaceStats, RouteRow, WorkerRow


@dataclass(frozen=True)
class Window:
    """A window the user chose: the last ``seconds``, or since each process started (None)."""

    label: str
    seconds: float | None


WINDOWS: tuple[Window, ...] = (
    Window("last 10 s", 10.0),
    Window("last 60 s", 60.0),
    Window("last 5 min", 300.0),
    Window("since start", None),
)
DEFAULT_WINDOW = WINDOWS[1]


@dataclass(frozen=True)
class Span:
    """The stretch of time the figures of one source cover."""

    window: Window
    seconds: float  # covered: shorter than the window until the readings go back that far
    complete: bool  # the readings cover the whole window
    # False when the source does not say when its processes started ("since start"), or
    # gives figures it computed itself: totals are shown, rates are not.
    known: bool = True

    def text(self) -> str:
        """``last 60 s``, ``last 60 s (12 s so far)``, ``last 10 s (over 30 s)``,
        ``since start (3 min 4 s)``."""
        if not self.known:
            return self.window.label if self.window.seconds is None else "as the source computes it"
        if self.window.seconds is None:
            return f"{self.window.label} ({duration_text(self.seconds)})"
        if self.complete:
            # Readings further apart than the window (a slow source): say what was covered.
            if self.seconds > self.window.seconds * 1.5 + 1.0:
                return f"{self.window.label} (over {duration_text(self.seconds)})"
            return self.window.label
        return f"{self.window.label} ({duration_text(self.seconds)} so far)"


def duration_text(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


@dataclass(frozen=True)
class SiteRow:
    """Loop blocks of one route at one site, over the span."""

    source: str
    route: str
    site: str  # the application's innermost frame; "" when the source has no stacks
    count: int
    total: float
    worst: float
    worst_at_least: bool  # more blocks in the span than the source kept: ``worst`` is a floor
    last_seen_ago: float | None
    stack: tuple[str, ...] = ()  # the application's frames, innermost last
    outer_stack: tuple[str, ...] = ()  # the frames above them, outermost first


@dataclass(frozen=True)
class Timeline:
    """One source and interface over the span, one point per step, oldest first."""

    ago: tuple[float, ...] = ()  # seconds before the last reading, one per point
    rate_by_status: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # class -> req/s
    p50: tuple[float | None, ...] = ()
    p95: tuple[float | None, ...] = ()
    p99: tuple[float | None, ...] = ()
    lag_p99: tuple[float | None, ...] = ()
    busy: tuple[float | None, ...] = ()  # WSGI threads busy (a gauge, as read)
    capacity: int | None = None


@dataclass(frozen=True)
class SourceFigures:
    """One source over one span: what every tab shows of it."""

    source: str
    kind: str
    span: Span
    error: str | None = None
    interfaces: tuple[InterfaceStats, ...] = ()
    routes: tuple[RouteRow, ...] = ()
    sites: tuple[SiteRow, ...] = ()
    sessions: Mapping[tuple[str, str], SessionCounters] = field(default_factory=dict)  # (route, outcome)
    timelines: Mapping[str, Timeline] = field(default_factory=dict)  # interface -> timeline
    workers: tuple[WorkerRow, ...] = ()
