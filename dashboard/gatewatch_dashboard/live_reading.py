"""A live view as one reading: its cumulative counters (what every windowed figure is cut
from, by :mod:`gatewatch_dashboard.window`) and what it says about now (in flight, workers
busy, the loop's latest lag)."""

from __future__ import annotations

import os.path
from collections.abc import Sequence

from gatewatch.export.live.schema import LiveView, ProcessSnapshot
from gatewatch_dashboard.live_counters import process_counters
from gatewatch_dashboard.model import INTERFACES, InterfaceStats, Reading, WorkerRow


def _server_of(view: LiveView, interface: str) -> str:
    names = sorted({p["servers"][interface] for p in view["processes"] if interface in p["servers"]})
    return "/".join(names) or "?"


def _interfaces_of(view: LiveView) -> list[str]:
    seen: set[str] = set()
    for process in view["processes"]:
        seen.update(process["servers"])
        seen.update(count["interface"] for count in process["in_flight_counts"])
        seen.update(entry["interface"] for entry in process.get("totals", {}).get("routes", ()))
    return [name for name in INTERFACES if name in seen] + sorted(seen - set(INTERFACES))


def interface_stats(view: LiveView) -> tuple[InterfaceStats, ...]:
    """Per interface, over every process of the view, as of the view's ``time``: the gauges
    only (the window fills in the rest from the counters)."""
    processes = view["processes"]
    result = []
    for interface in _interfaces_of(view):
        serving = [p for p in processes if interface in p["servers"]]
        in_flight = sum(
            c["count"] for p in processes for c in p["in_flight_counts"] if c["interface"] == interface
        )
        latest_lags = [p["loop_lag"][-1]["lag"] for p in serving if p["loop_lag"]]
        wsgi = interface == "wsgi"
        result.append(
            InterfaceStats(
                interface=interface,
                server=_server_of(view, interface),
                processes=len(serving),
                in_flight=in_flight,
                lag=max(latest_lags) if latest_lags else None,
                busy=sum(p["wsgi_workers"]["busy"] for p in serving) if wsgi else None,
                capacity=_capacity(serving) if wsgi else None,
            )
        )
    return tuple(result)


def _capacity(processes: Sequence[ProcessSnapshot]) -> int | None:
    totals = [p["wsgi_workers"]["total"] for p in processes]
    if not totals or any(total is None for total in totals):
        return None
    return sum(total for total in totals if total is not None)


def short_file(path: str) -> str:
    """The last two parts of a source path: enough to recognise it, short enough for a cell."""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else os.path.basename(path)


def worker_rows(source: str, view: LiveView) -> tuple[WorkerRow, ...]:
    """Each process's workers now (its saturations and queue time come from the window)."""
    rows = []
    for process in view["processes"]:
        workers = process["wsgi_workers"]
        rows.append(
            WorkerRow(
                source=source,
                pid=process["pid"],
                servers=", ".join(f"{k}: {v}" for k, v in sorted(process["servers"].items())) or "-",
                busy=workers["busy"],
                total=workers["total"],
                in_flight=sum(c["count"] for c in process["in_flight_counts"]),
                websockets=sum(process["websockets"]["active_by_route"].values()),
                queue=None,
                internal_errors=process["internal_errors"],
                wsgi="wsgi" in process["servers"] or workers["total"] is not None,
            )
        )
    return tuple(rows)


def live_reading(source: str, view: LiveView, polls: int = 0) -> Reading:
    return Reading(
        source=source,
        kind="live",
        view=view,
        interfaces=interface_stats(view),
        workers=worker_rows(source, view),
        polls=polls,
        counters=process_counters(view),
        at=view["time"],
    )
