"""Cumulative counters and gauges from exposition samples: a ``/metrics`` page's, or the instant
vectors a Prometheus server answers for one instance (:mod:`gatewatch_dashboard.prometheus_source`).

Both sources name their samples as the page does (``..._count``, ``..._bucket`` with ``le``...),
so one reader turns them into :class:`~gatewatch_dashboard.counters.ProcessCounters`: the same
numbers whichever source read them. Labels the dashboard does not show (``method``, a
WebSocket message's ``kind``, a multiprocess ``pid``) are summed over, as ``sum by`` would.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Protocol

from gatewatch.queries import EXPOSED, PROCESS_START, series
from gatewatch_dashboard.counters import (
    InterfaceCounters,
    ProcessCounters,
    RouteCounters,
    SessionCounters,
    SiteCounters,
    status_class,
)
from gatewatch_dashboard.model import InterfaceStats, WorkerRow

_COUNT = series("duration", "_count")
_BUCKET = series("duration", "_bucket")
_SUM = series("duration", "_sum")
# RouteCounters field <- the per-route counter (there whatever the series preset).
_ROUTE_TOTALS = {
    "blocking_sum": series("route_blocking"),
    "cpu_sum": series("route_cpu"),
    "cpu_samples": series("route_cpu_samples"),
    "offload_sum": series("route_offload"),
}
# InterfaceCounters field prefix <- the histogram whose _sum and _count it holds.
_INTERFACE_MEANS = {"concurrency": "concurrency", "queue": "queue", "after_response": "after_response"}
_SATURATED = series("saturated")
_LAG_BUCKET, _LAG_SUM, _LAG_COUNT = (series("loop_lag", part) for part in ("_bucket", "_sum", "_count"))
_BLOCKS = series("loop_blocks")
_BLOCKED = series("loop_blocked")
_SESSIONS = series("websocket_sessions")
_MESSAGES = series("websocket_messages")
_BYTES = series("websocket_bytes")
_IN_FLIGHT = series("in_flight")
_BUSY = series("workers_busy")
_CAPACITY = series("workers_capacity")
_WS_ACTIVE = series("websocket_active")
_INFO = series("info")
_INTERNAL_ERRORS = series("internal_errors")
# Messages are counted per route, not per outcome: only accepted sessions exchange any.
_ACCEPTED = "accepted"


class Series(Protocol):
    """One sample: prometheus-client's ``Sample``, or one element of an instant vector."""

    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float: ...


def is_gatewatch(samples: Iterable[Series]) -> bool:
    """Whether any sample is one of the catalogue's series."""
    return any(sample.name in EXPOSED or sample.name.rsplit("_", 1)[0] in EXPOSED for sample in samples)


def _by_name(samples: Iterable[Series]) -> dict[str, list[Series]]:
    found: dict[str, list[Series]] = defaultdict(list)
    for sample in samples:
        if not math.isnan(sample.value):
            found[sample.name].append(sample)
    return found


def _summed(samples: Iterable[Series], *labels: str) -> dict[tuple[str, ...], float]:
    """``sum by (labels)``: samples without one of the labels are left out."""
    sums: dict[tuple[str, ...], float] = defaultdict(float)
    for sample in samples:
        if all(label in sample.labels for label in labels):
            sums[tuple(sample.labels[label] for label in labels)] += sample.value
    return sums


def _bounds(buckets: Iterable[Series]) -> tuple[float, ...]:
    return tuple(sorted({bound for s in buckets if not math.isinf(bound := float(s.labels["le"]))}))


def _cumulative(
    by_bound: Mapping[float, float], bounds: tuple[float, ...], total: float
) -> tuple[float, ...]:
    return (*(by_bound.get(bound, 0.0) for bound in bounds), by_bound.get(math.inf, total))


def process_counters(key: str, at: float, samples: Iterable[Series]) -> ProcessCounters:
    """Everything one process (or one page, one instance) counted, from its samples."""
    named = _by_name(samples)
    buckets = [s for s in named.get(_BUCKET, ()) if "le" in s.labels]
    duration_bounds = _bounds(buckets)
    requests = _summed(named.get(_COUNT, ()), "interface", "route", "status")
    by_bound: dict[tuple[str, ...], dict[float, float]] = defaultdict(dict)
    for (interface, route, bound), count in _summed(buckets, "interface", "route", "le").items():
        by_bound[interface, route][float(bound)] = count
    sums = _summed(named.get(_SUM, ()), "interface", "route")
    totals = {
        field: _summed(named.get(name, ()), "interface", "route") for field, name in _ROUTE_TOTALS.items()
    }
    statuses: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (interface, route, status), count in requests.items():
        statuses[interface, route][status_class(status)] += count
    keys = set(statuses) | set(by_bound) | {k for values in totals.values() for k in values}
    routes = {}
    for interface, route in sorted(keys):
        count = sum(statuses[interface, route].values())
        routes[interface, route] = RouteCounters(
            requests=count,
            statuses=dict(statuses[interface, route]),
            duration_sum=sums.get((interface, route), 0.0),
            buckets=_cumulative(by_bound.get((interface, route), {}), duration_bounds, count),
            blocking_sum=totals["blocking_sum"].get((interface, route), 0.0),
            cpu_sum=totals["cpu_sum"].get((interface, route), 0.0),
            cpu_samples=totals["cpu_samples"].get((interface, route), 0.0),
            offload_sum=totals["offload_sum"].get((interface, route), 0.0),
        )
    lag_buckets = [s for s in named.get(_LAG_BUCKET, ()) if "le" in s.labels]
    lag_bounds = _bounds(lag_buckets)
    lag_by_bound = {float(bound): count for (bound,), count in _summed(lag_buckets, "le").items()}
    lag_count = sum(s.value for s in named.get(_LAG_COUNT, ()))
    started = [s.value for s in named.get(PROCESS_START, ())]
    return ProcessCounters(
        key=key,
        at=at,
        started=min(started) if started else None,
        duration_bounds=duration_bounds,
        routes=routes,
        interfaces=_interfaces(named),
        lag_bounds=lag_bounds,
        lag_buckets=_cumulative(lag_by_bound, lag_bounds, lag_count) if lag_buckets else (),
        lag_sum=sum(s.value for s in named.get(_LAG_SUM, ())),
        lag_count=lag_count,
        sites=_sites(named),
        sessions=_sessions(named),
    )


def _interfaces(named: Mapping[str, list[Series]]) -> dict[str, InterfaceCounters]:
    fields: dict[str, dict[str, float]] = defaultdict(dict)
    for prefix, key in _INTERFACE_MEANS.items():
        for part in ("_sum", "_count"):
            for (interface,), value in _summed(named.get(series(key, part), ()), "interface").items():
                fields[interface][prefix + part] = value
    saturated = named.get(_SATURATED)
    if saturated:
        # The saturated counter is WSGI's (it has no interface label).
        fields["wsgi"]["saturated"] = sum(s.value for s in saturated)
    return {interface: InterfaceCounters(**values) for interface, values in sorted(fields.items())}


def _sites(named: Mapping[str, list[Series]]) -> dict[tuple[str, str], SiteCounters]:
    # A page has no stacks: one site per route, "" (its worst block is not on the page).
    counts = _summed(named.get(_BLOCKS, ()), "route")
    seconds = _summed(named.get(_BLOCKED, ()), "route")
    return {
        (route, ""): SiteCounters(count=counts.get((route,), 0.0), total=seconds.get((route,), 0.0))
        for (route,) in sorted(set(counts) | set(seconds))
    }


def _sessions(named: Mapping[str, list[Series]]) -> dict[tuple[str, str], SessionCounters]:
    sessions = _summed(named.get(_SESSIONS, ()), "route", "outcome")
    messages = _summed(named.get(_MESSAGES, ()), "route", "direction")
    payload = _summed(named.get(_BYTES, ()), "route", "direction")
    keys = set(sessions) | {(route, _ACCEPTED) for route, _ in set(messages) | set(payload)}
    found = {}
    for route, outcome in sorted(keys):
        exchanged = outcome == _ACCEPTED
        found[route, outcome] = SessionCounters(
            sessions=sessions.get((route, outcome), 0.0),
            received=messages.get((route, "received"), 0.0) if exchanged else 0.0,
            sent=messages.get((route, "sent"), 0.0) if exchanged else 0.0,
            received_bytes=payload.get((route, "received"), 0.0) if exchanged else 0.0,
            sent_bytes=payload.get((route, "sent"), 0.0) if exchanged else 0.0,
        )
    return found


# -- gauges: now, not windowed ------------------------------------------------------------------


def interfaces_now(samples: Iterable[Series], *, server: str, processes: int) -> tuple[InterfaceStats, ...]:
    """Per interface, what is true now: requests in flight, WSGI threads busy and their capacity,
    the server the info metric names (``server`` when it names none)."""
    named = _by_name(samples)
    in_flight = _summed(named.get(_IN_FLIGHT, ()), "interface")
    servers: dict[str, set[str]] = defaultdict(set)
    for sample in named.get(_INFO, ()):
        if "interface" in sample.labels:
            servers[sample.labels["interface"]].add(sample.labels.get("server", ""))
    seen = {interface for (interface,) in in_flight} | set(servers)
    seen |= {
        interface for name in (_COUNT, _SUM) for (interface,) in _summed(named.get(name, ()), "interface")
    }
    busy = sum(s.value for s in named.get(_BUSY, ()))
    capacity = sum(s.value for s in named.get(_CAPACITY, ()))
    stats = []
    for interface in sorted(seen):
        wsgi = interface == "wsgi"
        named_servers = sorted(name for name in servers.get(interface, ()) if name and name != "unknown")
        stats.append(
            InterfaceStats(
                interface=interface,
                server=", ".join(named_servers) or server,
                processes=processes,
                in_flight=int(in_flight.get((interface,), 0.0)),
                busy=int(busy) if wsgi and (_BUSY in named or _CAPACITY in named) else None,
                capacity=int(capacity) if wsgi and capacity else None,
            )
        )
    return tuple(stats)


def _pid(labels: tuple[str, ...]) -> int:
    return int(labels[0]) if labels and labels[0].isdigit() else 0


def worker_rows(source: str, samples: Iterable[Series]) -> tuple[WorkerRow, ...]:
    """A row per process: WSGI workers by ``pid`` in multiprocess mode (the saturated counter
    is summed over the server, no pid, so every row shows it); one row for a single process
    (pid 0: a page does not say its pid), ASGI-only too, so that every source is listed."""
    named = _by_name(samples)
    busy = _summed(named.get(_BUSY, ()), "pid") or _summed(named.get(_BUSY, ()))
    capacity = _summed(named.get(_CAPACITY, ()), "pid") or _summed(named.get(_CAPACITY, ()))
    pids = sorted(set(busy) | set(capacity), key=_pid) or [()]
    single = len(pids) == 1
    servers = sorted(
        {
            f"{s.labels['interface']}: {s.labels.get('server', '')}"
            for s in named.get(_INFO, ())
            if "interface" in s.labels
        }
    )
    in_flight = sum(s.value for s in named.get(_IN_FLIGHT, ()))
    rows = []
    for pid in pids:
        total = capacity.get(pid)
        rows.append(
            WorkerRow(
                source=source,
                pid=_pid(pid),
                servers=", ".join(servers) or "-",
                busy=int(busy.get(pid, 0.0)),
                total=int(total) if total else None,
                # Multiprocess mode sums in flight over the server: per pid, only busy is known.
                in_flight=int(in_flight if single else busy.get(pid, 0.0)),
                websockets=int(sum(s.value for s in named.get(_WS_ACTIVE, ()))) if single else 0,
                queue=None,
                saturated=int(sum(s.value for s in named.get(_SATURATED, ()))),
                internal_errors=int(sum(s.value for s in named.get(_INTERNAL_ERRORS, ()))) if single else 0,
                wsgi=pid in busy or pid in capacity,
            )
        )
    return tuple(rows)
