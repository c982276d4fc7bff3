"""Cumulative counters read at known times, as the window tests build them."""

from __future__ import annotations

from collections.abc import Mapping

from gatewatch_dashboard.counters import (
    InterfaceCounters,
    ProcessCounters,
    RouteCounters,
    SessionCounters,
    SiteCounters,
)
from gatewatch_dashboard.figures import WINDOWS
from gatewatch_dashboard.model import InterfaceStats, Reading, WorkerRow
from gatewatch_dashboard.window import ReadingLog

TEN_S, SIXTY_S, FIVE_MIN, SINCE_START = WINDOWS
BOUNDS = (0.01, 0.1, 1.0)


def route(requests: float, *, fast: float = 0.0, errors: float = 0.0, held: float = 0.0) -> RouteCounters:
    """``requests`` of which ``fast`` under 10 ms and the rest between 0.1 and 1 s."""
    slow = requests - fast
    return RouteCounters(
        requests=requests,
        statuses={"2xx": requests - errors, "5xx": errors},
        duration_sum=fast * 0.005 + slow * 0.5,
        buckets=(fast, fast, requests, requests),
        blocking_sum=held,
        cpu_sum=held / 2,
        cpu_samples=requests,
    )


def process(
    at: float,
    routes: Mapping[tuple[str, str], RouteCounters],
    *,
    key: str = "1",
    started: float | None = 900.0,
    sites: Mapping[tuple[str, str], SiteCounters] | None = None,
    saturated: float = 0.0,
    sessions: Mapping[tuple[str, str], SessionCounters] | None = None,
) -> ProcessCounters:
    return ProcessCounters(
        key=key,
        at=at,
        started=started,
        duration_bounds=BOUNDS,
        routes=routes,
        interfaces={
            "asgi": InterfaceCounters(concurrency_sum=10.0, concurrency_count=5.0),
            **({"wsgi": InterfaceCounters(saturated=saturated)} if saturated else {}),
        },
        sites=sites or {},
        sessions=sessions or {},
    )


def reading(at: float, *counters: ProcessCounters, source: str = "app", busy: int = 0) -> Reading:
    return Reading(
        source=source,
        kind="live",
        counters=counters,
        at=at,
        interfaces=(
            InterfaceStats(
                interface="asgi", server="uvicorn", processes=len(counters), in_flight=3, busy=busy
            ),
        ),
        workers=tuple(
            WorkerRow(
                source=source,
                pid=int(one.key),
                servers="asgi",
                busy=busy,
                total=2,
                in_flight=busy,
                websockets=0,
                queue=None,
            )
            for one in counters
        ),
    )


def log_of(*readings: Reading) -> ReadingLog:
    log = ReadingLog()
    for one in readings:
        log.add(one)
    return log


ROOT = ("asgi", "/")
ITEMS = ("asgi", "/items/{item_id}")
