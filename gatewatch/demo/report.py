"""What ``gatewatch demo`` prints: the two interfaces side by side, per route, and why they differ.

Reads only what the load generator saw (:class:`ClientStats`) and what each server's
``/metrics`` said (:mod:`gatewatch.export.prometheus.scrape_summary`). The per-route table and the sentences
for the Starlette/Flask pair live here; the Django ones in :mod:`gatewatch.demo.django_demo`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from gatewatch._printable import printable
from gatewatch.demo.text_table import text_table
from gatewatch.export.prometheus.scrape_summary import InterfaceSummary, RouteSummary


@dataclass
class ClientStats:
    """What the load generator saw for one server."""

    seconds: float = 0.0
    responses: int = 0
    server_errors: int = 0
    failures: int = 0  # no response at all (connection error, timeout)
    latencies: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.responses / self.seconds if self.seconds > 0 else 0.0

    def latency_quantile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class Result:
    label: str
    server: str
    client: ClientStats
    summary: InterfaceSummary
    routes: dict[str, RouteSummary]


@dataclass(frozen=True)
class RouteTable:
    caption: str
    header: list[str]
    rows: list[list[str]]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _bytes(value: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def summary_rows(results: Sequence[Result]) -> list[list[str]]:
    def row(name: str, cells: Sequence[str]) -> list[str]:
        return [name, *cells]

    s = [r.summary for r in results]
    k = [r.client for r in results]
    return [
        row("requests (server)", [_count(x.requests) for x in s]),
        row("  throughput (client)", [f"{x.throughput:,.0f} req/s" for x in k]),
        row("5xx responses / exceptions", [f"{_count(x.server_errors)} / {_count(x.exceptions)}" for x in s]),
        row("duration p50 (server)", [ms(x.duration_p50) for x in s]),
        row("duration p95 (server)", [ms(x.duration_p95) for x in s]),
        row(
            "  latency p50 / p95 (client)",
            [f"{ms(x.latency_quantile(0.5))} / {ms(x.latency_quantile(0.95))}" for x in k],
        ),
        row("blocking time, total", [f"{x.blocking_total:.2f} s" for x in s]),
        row("blocking time per request", [ms(x.blocking_per_request) for x in s]),
        # CPU time is measured on a sample of requests under ASGI: per request, not a total.
        row("CPU time per request", [ms(x.cpu_per_request) for x in s]),
        row(
            "mean concurrency at arrival",
            ["-" if x.concurrency_mean is None else f"{x.concurrency_mean:.2f}" for x in s],
        ),
        row("bytes out", [_bytes(x.bytes_out) for x in s]),
        row("disconnects", [_count(x.disconnects) for x in s]),
        *_offload_rows(s),
    ]


def _offload_rows(summaries: Sequence[InterfaceSummary]) -> list[list[str]]:
    """Thread hand-offs, for servers whose framework tracks them (Django); none otherwise."""
    if not any(x.offload_count for x in summaries):
        return []
    return [
        ["offload per request (threads)", *(ms_fine(x.offload_per_request) for x in summaries)],
        ["  of which waiting for a thread", *(ms_fine(x.offload_queue_per_request) for x in summaries)],
        ["thread hops per request", *(hops(x.hops_per_request) for x in summaries)],
    ]


def ms_fine(value: float | None) -> str:
    """Milliseconds that keep small values visible: a hand-off costs tens of microseconds,
    and a true zero (nothing handed off) must not look like a rounded one."""
    if value is None:
        return "-"
    if value == 0:
        return "0 ms"
    return f"{value * 1000:.2f} ms" if value < 0.001 else ms(value)


def hops(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def route_rows(results: Sequence[Result]) -> list[list[str]]:
    routes = sorted({route for r in results for route in r.routes})
    rows = []
    for route in routes:
        cells = [route]
        for result in results:
            summary = result.routes.get(route)
            if summary is None:
                cells.extend(["-", "-", "-"])
            else:
                cells.extend(
                    [
                        ms(summary.duration_mean),
                        ms(summary.blocking_mean),
                        ms(summary.cpu_mean),
                    ]
                )
        rows.append(cells)
    return rows


def route_table(results: Sequence[Result]) -> RouteTable:
    header = ["route"]
    for result in results:
        header.extend([f"{result.label} dur", f"{result.label} held", f"{result.label} cpu"])
    return RouteTable(
        caption="Per route, mean per request: duration / time holding the loop (ASGI) or the worker "
        "(WSGI) / CPU time",
        header=header,
        rows=route_rows(results),
    )


def explain(results: Sequence[Result], *, endpoints: int, wsgi_workers: int) -> list[str]:
    """A few sentences, with this run's numbers, on what differs and why."""
    by_label = {r.label: r for r in results}
    asgi, wsgi = by_label.get("ASGI"), by_label.get("WSGI")
    notes: list[str] = []
    if asgi is not None:
        slow, blocking = asgi.routes.get("/slow"), asgi.routes.get("/blocking")
        if slow is not None and blocking is not None:
            notes.append(
                f"ASGI /slow took {ms(slow.duration_mean)} on average but held the event loop "
                f"for only {ms(slow.blocking_mean)}: it awaits anyio.sleep, so the loop served "
                f"other requests meanwhile. /blocking calls time.sleep inside an async view and "
                f"held the loop for {ms(blocking.blocking_mean)}, {share(blocking)} of its "
                f"duration: for that long no other request on the loop could make progress."
            )
        stream, fast = asgi.routes.get("/stream"), asgi.routes.get("/fast")
        if slow is not None and stream is not None and fast is not None:
            notes.append(
                f"That is why ASGI /slow took {ms(slow.duration_mean)} for a 50 ms sleep and "
                f"/stream {ms(stream.duration_mean)} for 5 x 10 ms: when their sleeps ended, the "
                f"loop was often held by someone's blocking step. /fast never awaits and took "
                f"{ms(fast.duration_mean)} once the app got it, yet clients waited "
                f"{ms(asgi.client.latency_quantile(0.5))} (p50): a request that arrives while the "
                f"loop is held waits before the app is even called, where no per-request timer "
                f"can see it."
            )
        if blocking is not None:
            notes.append(
                f"Blocking is not CPU: ASGI /blocking used {ms(blocking.cpu_mean)} of CPU while "
                f"it held the loop; a sleeping synchronous call blocks the loop just the same."
            )
        if asgi.summary.concurrency_mean is not None:
            notes.append(
                f"One event loop multiplexes every connection: an ASGI request found "
                f"{asgi.summary.concurrency_mean:.1f} others in flight on arrival, on average."
            )
    if wsgi is not None:
        slow = wsgi.routes.get("/slow")
        if slow is not None:
            notes.append(
                f"Under WSGI every request holds its worker for its whole duration, so blocking "
                f"time equals duration: /slow held a worker for {ms(slow.blocking_mean)} while "
                f"it only slept. A sync worker serves one request at a time (mean concurrency at "
                f"arrival {wsgi.summary.concurrency_mean or 0:.2f} per process); with "
                f"{wsgi_workers} workers the other clients wait in the listen queue, which the "
                f"server-side duration cannot see but the client latency does "
                f"(client p50 {ms(wsgi.client.latency_quantile(0.5))} vs server p50 "
                f"{ms(wsgi.summary.duration_p50)})."
            )
        blocking = wsgi.routes.get("/blocking")
        if blocking is not None:
            notes.append(
                f"WSGI /blocking does the same work as ASGI /blocking (a synchronous sleep) and is "
                f"no worse than /slow there: it held its worker for {ms(blocking.blocking_mean)} "
                f"with {ms(blocking.cpu_mean)} of CPU; only on an event loop does a sleep block others."
            )
    if asgi is not None and wsgi is not None:
        notes.append(
            f"With the same {endpoints}-endpoint mix, one event loop served "
            f"{asgi.client.throughput:,.0f} req/s and {wsgi_workers} sync workers "
            f"{wsgi.client.throughput:,.0f} req/s: awaiting is cheap for ASGI, while a WSGI "
            f"worker is occupied by every request, fast or slow."
        )
    return notes


def share(route: RouteSummary) -> str:
    """Blocking time as a share of duration. It can come out a hair above 100 %: the duration
    ends with the last body message, the coroutine's last step a little later."""
    if not route.duration_mean or route.blocking_mean is None:
        return "-"
    return f"{min(route.blocking_mean / route.duration_mean, 1.0):.0%}"


def report(
    results: Sequence[Result],
    *,
    table: RouteTable,
    notes: Sequence[str],
    footnote: str = "",
    out: TextIO,
) -> None:
    header = ["", *(f"{r.label} ({r.server.split(',')[0]})" for r in results)]
    print("", file=out)
    for line in text_table(header, summary_rows(results)):
        print(line, file=out)
    print("", file=out)
    print(table.caption, file=out)
    for line in text_table(table.header, table.rows):
        print(line, file=out)
    print("", file=out)
    print("What differs:", file=out)
    # The notes quote routes and numbers from the scrape: printed as data, like the tables.
    for note in notes:
        print(wrap("- " + printable(note), indent="  "), file=out)
    if footnote:
        print("", file=out)
        print(wrap(printable(footnote), indent=""), file=out)


def wrap(text: str, *, indent: str, width: int = 96) -> str:
    # Never split a route such as /slow-async/ at its hyphen.
    return textwrap.fill(text, width=width, subsequent_indent=indent, break_on_hyphens=False)
