"""A live view's ``totals`` as :class:`~gatewatch_dashboard.counters.ProcessCounters`: one per
process, keyed by its pid, as of the view's ``time``.

The live view counts per interface, route and status, with buckets per bound (not cumulative);
the counters keep a route's statuses by class and its buckets cumulative, as a ``/metrics`` page
reads, so that every source gives the dashboard one shape. A process whose snapshot has no
``totals`` (a gatewatch older than them) gives no counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import accumulate

from gatewatch.export.live.schema import BlockSite, LiveView, RouteCounts, SessionCounts, Totals
from gatewatch_dashboard.counters import (
    InterfaceCounters,
    ProcessCounters,
    RouteCounters,
    SessionCounters,
    SiteCounters,
    status_class,
)


def process_counters(view: LiveView) -> tuple[ProcessCounters, ...]:
    """Every process's counters in ``view`` that has totals, in the view's order."""
    at = view["time"]
    return tuple(
        _counters(str(process["pid"]), at, process["totals"])
        for process in view["processes"]
        if "totals" in process
    )


def _counters(key: str, at: float, totals: Totals) -> ProcessCounters:
    return ProcessCounters(
        key=key,
        at=at,
        started=totals["started"],
        duration_bounds=tuple(totals["duration_bounds"]),
        routes=_routes(totals["routes"], len(totals["duration_bounds"]) + 1),
        interfaces={
            entry["interface"]: InterfaceCounters(
                concurrency_sum=entry["concurrency_sum"],
                concurrency_count=entry["concurrency_count"],
                queue_sum=entry["queue_sum"],
                queue_count=entry["queue_count"],
                after_response_sum=entry["after_response_sum"],
                after_response_count=entry["after_response_count"],
                saturated=entry["saturated"],
            )
            for entry in totals["interfaces"]
        },
        lag_bounds=tuple(totals["lag_bounds"]),
        lag_buckets=tuple(accumulate(totals["lag_buckets"])),
        lag_sum=totals["lag_sum"],
        lag_count=totals["lag_count"],
        sites=_sites(totals["block_sites"]),
        sessions=_sessions(totals["sessions"]),
    )


def _routes(entries: Iterable[RouteCounts], size: int) -> dict[tuple[str, str], RouteCounters]:
    """Per (interface, route), its statuses added up; ``size`` buckets each (the bounds, +Inf)."""
    grouped: dict[tuple[str, str], list[RouteCounts]] = {}
    for entry in entries:
        grouped.setdefault((entry["interface"], entry["route"]), []).append(entry)
    routes: dict[tuple[str, str], RouteCounters] = {}
    for key, same in grouped.items():
        statuses: dict[str, float] = {}
        for entry in same:
            kind = status_class(entry["status"])
            statuses[kind] = statuses.get(kind, 0) + entry["requests"]
        per_bucket = [0] * size
        for entry in same:
            for index, count in enumerate(entry["duration_buckets"][:size]):
                per_bucket[index] += count
        routes[key] = RouteCounters(
            requests=sum(entry["requests"] for entry in same),
            statuses=statuses,
            duration_sum=sum(entry["duration_sum"] for entry in same),
            buckets=tuple(accumulate(per_bucket)),
            blocking_sum=sum(entry["blocking_sum"] for entry in same),
            cpu_sum=sum(entry["cpu_sum"] for entry in same),
            cpu_samples=sum(entry["cpu_samples"] for entry in same),
            offload_sum=sum(entry["offload_sum"] for entry in same),
        )
    return routes


def _sites(entries: Iterable[BlockSite]) -> dict[tuple[str, str], SiteCounters]:
    return {
        (entry["route"], entry["site"]): SiteCounters(
            count=entry["count"],
            total=entry["total"],
            worst=entry["worst"],
            last_at=entry["last_at"],
            recent=tuple((pair[0], pair[1]) for pair in entry["recent"] if len(pair) == 2),
            stack=tuple(entry["stack"]),
            outer_stack=tuple(entry["outer_stack"]),
        )
        for entry in entries
    }


def _sessions(entries: Iterable[SessionCounts]) -> dict[tuple[str, str], SessionCounters]:
    sessions: dict[tuple[str, str], SessionCounters] = {}
    for entry in entries:
        key = (entry["route"], entry["outcome"])
        before = sessions.get(key, SessionCounters())
        # One entry per pair from gatewatch; added up all the same, should a producer repeat one.
        sessions[key] = SessionCounters(
            sessions=before.sessions + entry["sessions"],
            received=before.received + entry["received"],
            sent=before.sent + entry["sent"],
            received_bytes=before.received_bytes + entry["received_bytes"],
            sent_bytes=before.sent_bytes + entry["sent_bytes"],
        )
    return sessions
