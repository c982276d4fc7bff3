"""Cumulative counters, as every source reads them: the one shape the windows are cut from.

A live view (its ``totals``), a ``/metrics`` page and a Prometheus server all give counts that
only grow while a process lives: requests by route and status, their duration buckets, time
holding the loop or worker, loop lag and loop blocks, WebSocket sessions. Each source turns
what it read into :class:`ProcessCounters`, one per process (a live view's pid, the page, a
Prometheus instance); :mod:`gatewatch_dashboard.window` takes the difference between two
readings of the same process, so that every figure of a view covers the same window and a
total agrees with ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Statuses are counted by class: what the charts and the error rate need.
STATUS_CLASSES: tuple[str, ...] = ("2xx", "3xx", "4xx", "5xx", "other")


def status_class(status: str) -> str:
    """``"200"`` -> ``"2xx"``; anything that is not a 2xx-5xx code -> ``"other"``."""
    return f"{status[0]}xx" if len(status) == 3 and status[0] in "2345" and status.isdigit() else "other"


@dataclass(frozen=True)
class RouteCounters:
    """One interface and route of one process, since it started."""

    requests: float = 0.0
    statuses: Mapping[str, float] = field(default_factory=dict)  # status class -> requests
    duration_sum: float = 0.0
    # Cumulative requests per bound of ProcessCounters.duration_bounds, then +Inf (= requests).
    buckets: tuple[float, ...] = ()
    blocking_sum: float = 0.0
    cpu_sum: float = 0.0
    cpu_samples: float = 0.0
    offload_sum: float = 0.0


@dataclass(frozen=True)
class SiteCounters:
    """Loop blocks of one route at one site (``""``: the source has no stacks, or none was
    read), since the process started."""

    count: float = 0.0
    total: float = 0.0  # seconds
    worst: float = 0.0  # the longest block since the process started
    last_at: float | None = None  # wall clock
    recent: tuple[tuple[float, float], ...] = ()  # (wall clock, seconds), oldest first
    stack: tuple[str, ...] = ()  # the application's frames, innermost last
    outer_stack: tuple[str, ...] = ()  # the frames above them, outermost first


@dataclass(frozen=True)
class SessionCounters:
    """WebSocket sessions of one route that ended with one outcome."""

    sessions: float = 0.0
    received: float = 0.0
    sent: float = 0.0
    received_bytes: float = 0.0
    sent_bytes: float = 0.0


@dataclass(frozen=True)
class InterfaceCounters:
    """Sums and counts of one interface of one process: means over a window."""

    concurrency_sum: float = 0.0  # requests already in flight at each arrival
    concurrency_count: float = 0.0
    queue_sum: float = 0.0  # seconds waited before the app (from the proxy's header)
    queue_count: float = 0.0
    after_response_sum: float = 0.0
    after_response_count: float = 0.0
    saturated: float = 0.0  # WSGI requests that took the last free thread


@dataclass(frozen=True)
class ProcessCounters:
    """Everything one process counted since it started, as read at ``at`` (wall clock)."""

    key: str  # the pid, "page", or a Prometheus instance
    at: float
    started: float | None = None  # wall clock; None when the source does not say
    duration_bounds: tuple[float, ...] = ()
    routes: Mapping[tuple[str, str], RouteCounters] = field(default_factory=dict)  # (interface, route)
    interfaces: Mapping[str, InterfaceCounters] = field(default_factory=dict)
    lag_bounds: tuple[float, ...] = ()
    lag_buckets: tuple[float, ...] = ()  # cumulative per bound, then +Inf
    lag_sum: float = 0.0
    lag_count: float = 0.0
    sites: Mapping[tuple[str, str], SiteCounters] = field(default_factory=dict)  # (route, site)
    sessions: Mapping[tuple[str, str], SessionCounters] = field(default_factory=dict)  # (route, outcome)
