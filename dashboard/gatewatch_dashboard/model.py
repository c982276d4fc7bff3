"""What the dashboard shows, computed from what a source read: plain data, no Textual.

A :class:`Reading` is one poll of one source: a live view (:mod:`gatewatch.export.live.schema`, the
one contract with the library), a ``/metrics`` page or a Prometheus server. It holds the
source's cumulative counters (``counters``, ``at``) and what it says about now (gauges, the
requests in flight); :mod:`gatewatch_dashboard.window` cuts every windowed figure
(:class:`InterfaceStats`, :class:`RouteRow`) out of the counters. The widgets only format them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from gatewatch.export.live.schema import (
    LiveView,
)
from gatewatch_dashboard.counters import ProcessCounters

# An ASGI request that has held the loop this long stands out in the in-flight table.
HOLDING_LOOP = 0.05

INTERFACES = ("asgi", "wsgi")


@dataclass(frozen=True)
class InterfaceStats:
    """One interface of one source over a span (gauges: as read last)."""

    interface: str
    server: str
    processes: int
    rate: float | None = None  # requests per second
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    error_rate: float | None = None  # share of responses with a 5xx status
    in_flight: int | None = None
    concurrency: float | None = None  # mean requests already in flight at arrival
    blocking_share: float | None = None  # time holding the loop or worker / duration
    lag: float | None = None  # the latest loop lag (max over processes)
    lag_p99: float | None = None
    after_response: float | None = None  # mean seconds after the response
    queue: float | None = None  # mean queue time (from the proxy's header)
    busy: int | None = None  # WSGI threads busy, over every process
    capacity: int | None = None
    saturated: int | None = None  # WSGI requests that took the last free thread, over the span


@dataclass(frozen=True)
class RouteRow:
    """One interface and route of one source over a span."""

    source: str
    interface: str
    route: str
    requests: int
    rate: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    blocking: float | None  # mean seconds holding the loop or worker
    cpu: float | None
    offload: float | None
    errors: int


@dataclass(frozen=True)
class InFlightRow:
    source: str
    pid: int
    kind: str  # "http" or "ws"
    interface: str
    method: str
    route: str
    age: float
    held: float | None
    offload: float | None
    hops: int | None
    awaiting: str
    holding_loop: bool


@dataclass(frozen=True)
class SessionRow:
    source: str
    pid: int
    id: int
    route: str
    outcome: str
    age: float
    duration: float | None
    received: int
    received_bytes: int
    sent: int
    sent_bytes: int
    rate: float | None  # messages per second both ways over the session's life
    last_message_age: float | None
    close_code: int | None
    initiator: str | None
    closed_ago: float | None


@dataclass(frozen=True)
class BlockRow:
    source: str
    pid: int
    ago: float
    route: str
    duration: float
    stack: tuple[str, ...]


@dataclass(frozen=True)
class WorkerRow:
    source: str
    pid: int
    servers: str
    busy: int
    total: int | None
    in_flight: int
    websockets: int
    queue: float | None
    saturated: int | None = None  # requests that took the last free thread (from /metrics)
    internal_errors: int = 0
    wsgi: bool = True  # whether the process serves WSGI (busy and capacity apply)

    @property
    def is_saturated(self) -> bool:
        return self.total is not None and self.busy >= self.total


@dataclass(frozen=True)
class Reading:
    """One poll of one source. ``error`` set and the last good data kept: the source failed
    this time (the UI says so and keeps polling)."""

    source: str
    kind: str  # "live", "metrics" or "prometheus"
    view: LiveView | None = None
    interfaces: tuple[InterfaceStats, ...] = ()
    routes: tuple[RouteRow, ...] = ()
    workers: tuple[WorkerRow, ...] = ()
    error: str | None = None
    polls: int = 0
    # Cumulative counters, one entry per process (gatewatch_dashboard.counters), and the
    # wall-clock time they were read at: what gatewatch_dashboard.window cuts windows from.
    counters: tuple[ProcessCounters, ...] = ()
    at: float | None = None

    def failed(self, error: str) -> Reading:
        return replace(self, error=error)


# -- numbers ------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile by the nearest rank; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def mean(values: Iterable[float]) -> float | None:
    listed = list(values)
    return sum(listed) / len(listed) if listed else None


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None
