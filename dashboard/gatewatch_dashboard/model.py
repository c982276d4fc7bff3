"""What the dashboard shows, computed from what a source read: plain data, no Textual.

A :class:`Reading` is one poll of one source: a live view (:mod:`gatewatch.export.live.schema`, the
one contract with the library), a ``/metrics`` page or a Prometheus server. From a live view
everything is derived here: per-interface numbers (:class:`InterfaceStats`), per-route rows,
the requests and sessions in flight, loop blocks and workers. The widgets only format them.
"""

from __future__ import annotations

import math
import os.path
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from gatewatch.export.live.schema import (
    AwaitedFrame,
    FinishedRequest,
    LiveView,
    ProcessSnapshot,
    SecondTotals,
)

# Rates and shares are over the last RATE_WINDOW complete seconds; quantiles over the
# finished requests of the last QUANTILE_WINDOW seconds.
RATE_WINDOW = 10
QUANTILE_WINDOW = 60
HISTORY_SECONDS = 60
# An ASGI request that has held the loop this long stands out in the in-flight table.
HOLDING_LOOP = 0.05

INTERFACES = ("asgi", "wsgi")


@dataclass(frozen=True)
class InterfaceStats:
    """One interface of one source, now, with short histories for the plots."""

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
    concurrency_max: int | None = None
    blocking_share: float | None = None  # time holding the loop or worker / duration
    lag: float | None = None  # the latest loop lag (max over processes)
    lag_p99: float | None = None
    after_response: float | None = None  # mean seconds after the response
    queue: float | None = None  # mean queue time (from the proxy's header)
    busy: int | None = None  # WSGI threads busy, over every process
    capacity: int | None = None
    rate_history: tuple[float, ...] = ()
    latency_history: tuple[float, ...] = ()
    lag_history: tuple[float, ...] = ()


@dataclass(frozen=True)
class RouteRow:
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


# -- from a live view ---------------------------------------------------------------------


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


# -- the detail tabs: from every reading's live view -------------------------------------------


def _awaiting_text(frame: AwaitedFrame | None) -> str:
    if frame is None:
        return ""
    return f"{frame['function']}  {short_file(frame['file'])}:{frame['line']}"


def in_flight_rows(readings: Iterable[Reading]) -> list[InFlightRow]:
    """Requests and WebSocket sessions running now, oldest first."""
    rows = []
    for reading in readings:
        if reading.view is None:
            continue
        for process in reading.view["processes"]:
            for request in process["in_flight"]:
                asgi = request["interface"] == "asgi"
                rows.append(
                    InFlightRow(
                        source=reading.source,
                        pid=process["pid"],
                        kind="http",
                        interface=request["interface"],
                        method=request["method"],
                        route=request["route"] or "?",
                        age=request["age"],
                        held=request["blocking"],
                        offload=request["offload"],
                        hops=request["thread_hops"],
                        awaiting=_awaiting_text(request["awaiting"]),
                        holding_loop=asgi and request["blocking"] >= HOLDING_LOOP,
                    )
                )
            for session in process["websockets"]["open"]:
                rows.append(
                    InFlightRow(
                        source=reading.source,
                        pid=process["pid"],
                        kind="ws",
                        interface="asgi",
                        method="WS",
                        route=session["route"],
                        age=session["age"],
                        held=session["blocking"],
                        offload=None,
                        hops=None,
                        awaiting="",
                        holding_loop=session["blocking"] >= HOLDING_LOOP,
                    )
                )
    rows.sort(key=lambda row: -row.age)
    return rows


def session_rows(readings: Iterable[Reading]) -> tuple[list[SessionRow], list[SessionRow]]:
    """(open sessions, oldest first; recently ended ones, newest first)."""
    open_rows: list[SessionRow] = []
    closed_rows: list[SessionRow] = []
    for reading in readings:
        if reading.view is None:
            continue
        now = reading.view["time"]
        for process in reading.view["processes"]:
            for session, listing in [(s, open_rows) for s in process["websockets"]["open"]] + [
                (s, closed_rows) for s in process["websockets"]["recent"]
            ]:
                received = session["received"]["text"] + session["received"]["binary"]
                sent = session["sent"]["text"] + session["sent"]["binary"]
                duration = session["duration"]
                closed_at = session["closed_at"]
                listing.append(
                    SessionRow(
                        source=reading.source,
                        pid=process["pid"],
                        id=session["id"],
                        route=session["route"],
                        outcome=session["outcome"],
                        age=session["age"],
                        duration=duration,
                        received=received,
                        received_bytes=session["received"]["bytes"],
                        sent=sent,
                        sent_bytes=session["sent"]["bytes"],
                        rate=(received + sent) / duration if duration else None,
                        last_message_age=session["last_message_age"],
                        close_code=session["close_code"],
                        initiator=session["initiator"],
                        closed_ago=None if closed_at is None else max(now - closed_at, 0.0),
                    )
                )
    open_rows.sort(key=lambda row: -row.age)
    closed_rows.sort(key=lambda row: row.closed_ago if row.closed_ago is not None else math.inf)
    return open_rows, closed_rows


def session_counts(readings: Iterable[Reading]) -> dict[str, int]:
    """Open sessions, and recent ones by outcome, over every reading."""
    counts = {"open": 0, "accepted": 0, "rejected": 0, "failed": 0}
    for reading in readings:
        if reading.view is None:
            continue
        for process in reading.view["processes"]:
            counts["open"] += sum(process["websockets"]["active_by_route"].values())
            for session in process["websockets"]["recent"]:
                counts[session["outcome"]] = counts.get(session["outcome"], 0) + 1
    return counts


def block_rows(readings: Iterable[Reading]) -> list[BlockRow]:
    """Recent loop blocks, newest first."""
    rows = []
    for reading in readings:
        if reading.view is None:
            continue
        now = reading.view["time"]
        for process in reading.view["processes"]:
            for block in process["loop_blocks"]:
                rows.append(
                    BlockRow(
                        source=reading.source,
                        pid=process["pid"],
                        ago=max(now - block["at"], 0.0),
                        route=block["route"],
                        duration=block["duration"],
                        stack=tuple(block["stack"]),
                    )
                )
    rows.sort(key=lambda row: row.ago)
    return rows


SORT_KEYS: tuple[str, ...] = ("rate", "p95", "p99", "blocking", "cpu", "errors", "route")


def sort_routes(rows: Iterable[RouteRow], key: str, route_filter: str = "") -> list[RouteRow]:
    """Rows whose route contains ``route_filter``, sorted by ``key`` (largest first, names A-Z)."""
    wanted = [row for row in rows if route_filter.lower() in row.route.lower()]
    if key == "route":
        return sorted(wanted, key=lambda row: (row.route, row.interface, row.source))

    def number(row: RouteRow) -> float:
        value = getattr(row, key)
        return -math.inf if value is None else float(value)

    return sorted(wanted, key=lambda row: (-number(row), row.route))


@dataclass
class History:
    """What no single reading holds: values seen poll after poll (in flight), per source."""

    size: int = HISTORY_SECONDS * 2
    in_flight: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def add(self, reading: Reading) -> None:
        if reading.error is not None:
            return
        for stats in reading.interfaces:
            if stats.in_flight is None:
                continue
            series = self.in_flight.setdefault((reading.source, stats.interface), deque(maxlen=self.size))
            series.append(float(stats.in_flight))

    def in_flight_of(self, source: str, interface: str) -> tuple[float, ...]:
        return tuple(self.in_flight.get((source, interface), ()))
