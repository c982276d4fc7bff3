"""Everything a live view gives, derived once per poll: per-interface numbers, routes, workers."""

from __future__ import annotations

import os.path
from collections.abc import Callable, Sequence

from gatewatch.export.live.schema import (
    FinishedRequest,
    LiveView,
    ProcessSnapshot,
    SecondTotals,
)
from gatewatch_dashboard.model import (
    HISTORY_SECONDS,
    INTERFACES,
    QUANTILE_WINDOW,
    RATE_WINDOW,
    InterfaceStats,
    Reading,
    RouteRow,
    WorkerRow,
    mean,
    quantile,
    ratio,
)


def _server_of(view: LiveView, interface: str) -> str:
    names = sorted({p["servers"][interface] for p in view["processes"] if interface in p["servers"]})
    return "/".join(names) or "?"


def _interfaces_of(view: LiveView) -> list[str]:
    seen: set[str] = set()
    for process in view["processes"]:
        seen.update(process["servers"])
        seen.update(count["interface"] for count in process["in_flight_counts"])
        seen.update(entry["interface"] for entry in process["per_second"])
    return [name for name in INTERFACES if name in seen] + sorted(seen - set(INTERFACES))


def interface_stats(view: LiveView) -> tuple[InterfaceStats, ...]:
    """Per interface, over every process of the view, as of the view's ``time``."""
    now = view["time"]
    last_complete = int(now) - 1
    processes = view["processes"]
    result = []
    for interface in _interfaces_of(view):
        seconds = [e for p in processes for e in p["per_second"] if e["interface"] == interface]
        recent_window = [e for e in seconds if last_complete - RATE_WINDOW < e["second"] <= last_complete]
        requests = sum(e["requests"] for e in recent_window)
        duration_sum = sum(e["duration_sum"] for e in recent_window)
        finished = [
            r
            for p in processes
            for r in p["recent"]
            if r["interface"] == interface and r["finished_at"] >= now - QUANTILE_WINDOW
        ]
        durations = [r["duration"] for r in finished]
        serving = [p for p in processes if interface in p["servers"]]
        in_flight = sum(
            c["count"] for p in processes for c in p["in_flight_counts"] if c["interface"] == interface
        )
        lag_samples = [s for p in serving for s in p["loop_lag"] if s["at"] >= now - QUANTILE_WINDOW]
        latest_lags = [p["loop_lag"][-1]["lag"] for p in serving if p["loop_lag"]]
        wsgi = interface == "wsgi"
        result.append(
            InterfaceStats(
                interface=interface,
                server=_server_of(view, interface),
                processes=len(serving),
                rate=requests / RATE_WINDOW,
                p50=quantile(durations, 0.5),
                p95=quantile(durations, 0.95),
                p99=quantile(durations, 0.99),
                error_rate=ratio(sum(e["server_errors"] for e in recent_window), requests),
                in_flight=in_flight,
                concurrency=mean(r["concurrency"] for r in finished),
                concurrency_max=max((e["concurrency_max"] for e in recent_window), default=None),
                blocking_share=ratio(sum(e["blocking_sum"] for e in recent_window), duration_sum),
                lag=max(latest_lags) if latest_lags else None,
                lag_p99=quantile([s["lag"] for s in lag_samples], 0.99),
                after_response=mean(r["after_response"] for r in finished if r["after_response"] is not None),
                queue=mean(r["queue"] for r in finished if r["queue"] is not None),
                busy=sum(p["wsgi_workers"]["busy"] for p in serving) if wsgi else None,
                capacity=_capacity(serving) if wsgi else None,
                rate_history=_per_second_history(seconds, last_complete, lambda e: float(e["requests"])),
                latency_history=_latency_history(seconds, last_complete),
                lag_history=tuple(s["lag"] for s in sorted(lag_samples, key=lambda s: s["at"])),
            )
        )
    return tuple(result)


def _capacity(processes: Sequence[ProcessSnapshot]) -> int | None:
    totals = [p["wsgi_workers"]["total"] for p in processes]
    if not totals or any(total is None for total in totals):
        return None
    return sum(total for total in totals if total is not None)


def _per_second_history(
    seconds: Sequence[SecondTotals], last: int, value: Callable[[SecondTotals], float]
) -> tuple[float, ...]:
    """One value per second for the last :data:`HISTORY_SECONDS` seconds (0 when idle)."""
    by_second: dict[int, float] = {}
    for entry in seconds:
        by_second[entry["second"]] = by_second.get(entry["second"], 0.0) + value(entry)
    return tuple(by_second.get(second, 0.0) for second in range(last - HISTORY_SECONDS + 1, last + 1))


def _latency_history(seconds: Sequence[SecondTotals], last: int) -> tuple[float, ...]:
    """Mean duration per second (0 when idle)."""
    sums: dict[int, tuple[float, int]] = {}
    for entry in seconds:
        total, count = sums.get(entry["second"], (0.0, 0))
        sums[entry["second"]] = (total + entry["duration_sum"], count + entry["requests"])
    means = []
    for second in range(last - HISTORY_SECONDS + 1, last + 1):
        total, count = sums.get(second, (0.0, 0))
        means.append(total / count if count else 0.0)
    return tuple(means)


def short_file(path: str) -> str:
    """The last two parts of a source path: enough to recognise it, short enough for a cell."""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else os.path.basename(path)


def route_rows(source: str, view: LiveView) -> tuple[RouteRow, ...]:
    """Per interface and route, over the finished requests the view holds (its recent rings)."""
    now = view["time"]
    groups: dict[tuple[str, str], list[FinishedRequest]] = {}
    spans: dict[tuple[str, str], float] = {}
    for process in view["processes"]:
        recent = process["recent"]
        if not recent:
            continue
        # The ring holds the last requests: its span is the window the rate is over.
        oldest = min(r["finished_at"] for r in recent)
        span = min(max(now - oldest, 1.0), float(QUANTILE_WINDOW * 5))
        for request in recent:
            key = (request["interface"], request["route_label"])
            groups.setdefault(key, []).append(request)
            spans[key] = max(spans.get(key, 0.0), span)
    rows = []
    for (interface, route), requests in groups.items():
        durations = [r["duration"] for r in requests]
        rows.append(
            RouteRow(
                source=source,
                interface=interface,
                route=route,
                requests=len(requests),
                rate=len(requests) / spans[(interface, route)],
                p50=quantile(durations, 0.5),
                p95=quantile(durations, 0.95),
                p99=quantile(durations, 0.99),
                blocking=mean(r["blocking"] for r in requests),
                cpu=mean(r["cpu"] for r in requests if r["cpu"] is not None),
                offload=mean(r["offload"] for r in requests if r["offload"] is not None),
                errors=sum(1 for r in requests if r["status_label"].startswith("5")),
            )
        )
    rows.sort(key=lambda row: (row.interface, row.route))
    return tuple(rows)


def worker_rows(source: str, view: LiveView) -> tuple[WorkerRow, ...]:
    rows = []
    for process in view["processes"]:
        workers = process["wsgi_workers"]
        queues = [r["queue"] for r in process["recent"] if r["queue"] is not None]
        rows.append(
            WorkerRow(
                source=source,
                pid=process["pid"],
                servers=", ".join(f"{k}: {v}" for k, v in sorted(process["servers"].items())) or "-",
                busy=workers["busy"],
                total=workers["total"],
                in_flight=sum(c["count"] for c in process["in_flight_counts"]),
                websockets=sum(process["websockets"]["active_by_route"].values()),
                queue=mean(queues),
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
        routes=route_rows(source, view),
        workers=worker_rows(source, view),
        polls=polls,
    )
