"""A live view's ``totals`` as the dashboard's cumulative counters, one per process.

Stand-in on helper B's branch so that the windows run before helper A's module lands: take
helper A's version of this file on merge.
"""

from __future__ import annotations

from itertools import accumulate

from gatewatch.export.live.schema import LiveView, ProcessSnapshot, Totals
from gatewatch_dashboard.counters import (
    InterfaceCounters,
    ProcessCounters,
    RouteCounters,
    SessionCounters,
    SiteCounters,
    status_class,
)


def process_counters(view: LiveView) -> tuple[ProcessCounters, ...]:
    """One :class:`ProcessCounters` per process whose snapshot has ``totals``."""
    return tuple(_of(process, process["totals"]) for process in view["processes"] if "totals" in process)


def _of(process: ProcessSnapshot, totals: Totals) -> ProcessCounters:
    routes: dict[tuple[str, str], RouteCounters] = {}
    for entry in totals["routes"]:
        key = (entry["interface"], entry["route"])
        before = routes.get(key, RouteCounters(buckets=(0.0,) * (len(totals["duration_bounds"]) + 1)))
        statuses = dict(before.statuses)
        kind = status_class(entry["status"])
        statuses[kind] = statuses.get(kind, 0.0) + entry["requests"]
        cumulative = tuple(accumulate(float(count) for count in entry["duration_buckets"]))
        routes[key] = RouteCounters(
            requests=before.requests + entry["requests"],
            statuses=statuses,
            duration_sum=before.duration_sum + entry["duration_sum"],
            buckets=tuple(a + b for a, b in zip(before.buckets, cumulative, strict=False)),
            blocking_sum=before.blocking_sum + entry["blocking_sum"],
            cpu_sum=before.cpu_sum + entry["cpu_sum"],
            cpu_samples=before.cpu_samples + entry["cpu_samples"],
            offload_sum=before.offload_sum + entry["offload_sum"],
        )
    sessions: dict[tuple[str, str], SessionCounters] = {}
    for session in totals["sessions"]:
        key = (session["route"], session["outcome"])
        before_session = sessions.get(key, SessionCounters())
        sessions[key] = SessionCounters(
            sessions=before_session.sessions + session["sessions"],
            received=before_session.received + session["received"],
            sent=before_session.sent + session["sent"],
            received_bytes=before_session.received_bytes + session["received_bytes"],
            sent_bytes=before_session.sent_bytes + session["sent_bytes"],
        )
    return ProcessCounters(
        key=str(process["pid"]),
        at=process["time"],
        started=totals["started"],
        duration_bounds=tuple(totals["duration_bounds"]),
        routes=routes,
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
        lag_buckets=tuple(accumulate(float(count) for count in totals["lag_buckets"])),
        lag_sum=totals["lag_sum"],
        lag_count=totals["lag_count"],
        sites={
            (site["route"], site["site"]): SiteCounters(
                count=site["count"],
                total=site["total"],
                worst=site["worst"],
                last_at=site["last_at"],
                recent=tuple((at, seconds) for at, seconds in site["recent"]),
                stack=tuple(site["stack"]),
                outer_stack=tuple(site["outer_stack"]),
            )
            for site in totals["block_sites"]
        },
        sessions=sessions,
    )
