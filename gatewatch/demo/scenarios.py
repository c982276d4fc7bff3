"""The live demo's scenarios: the same traffic at the ASGI and the WSGI server at once, one
behaviour at a time, and the summary they add up to.

Each :class:`Scenario` drives both servers for its share of ``--duration`` and names what to
look at; :func:`play` runs them in turn (telling ``announce`` which one runs, for the dashboard's
panel), and :func:`summarize_run` reads both servers' ``/metrics`` and live views afterwards into
the JSON ``gatewatch demo --headless --json`` prints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gatewatch import catalogue as c
from gatewatch.demo.plan import DJANGO, STARLETTE_FLASK
from gatewatch.export.live.schema import parse_live_view
from gatewatch.export.prometheus.scrape_summary import histogram, parse, summarize, total

LIVE_PATH = "/_gatewatch/live.json"
BLOCKING_SLEEP = 0.1
SLOW_SLEEP = 0.2


@dataclass
class Side:
    """One server as the scenarios drive it, and what its clients saw."""

    label: str  # "ASGI" or "WSGI"
    interface: str
    base_url: str
    # The live_token the demo gave its servers: their HTTP live view answers only with it.
    live_token: str | None = None
    websocket_accepted: int = 0
    websocket_refused: int = 0
    responses: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)


Announce = Callable[[str], None]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    look_at: str
    share: float  # of the whole duration
    drive: Callable[[Side, float], Awaitable[None]]  # (side, seconds)

    def panel(self, index: int, count: int) -> str:
        return f"Scenario {index}/{count}: {self.title}\n{self.look_at}"


def _stamp() -> dict[str, str]:
    # What a proxy would add: the WSGI middleware reads it as the time the request queued.
    return {"X-Request-Start": f"t={time.time():.6f}"}


async def _loop_requests(side: Side, paths: Sequence[str], seconds: float, clients: int) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(offset: int, http: httpx.AsyncClient) -> None:
        index = offset
        while time.monotonic() < deadline:
            path = paths[index % len(paths)]
            index += 1
            sent = time.perf_counter()
            try:
                await http.get(path, headers=_stamp())
            except httpx.HTTPError:
                side.failures += 1
                await asyncio.sleep(0.02)
                continue
            side.responses += 1
            side.latencies.append(time.perf_counter() - sent)

    async with httpx.AsyncClient(base_url=side.base_url, limits=limits, timeout=30.0) as http:
        await asyncio.gather(*(client(offset, http) for offset in range(clients)))


async def _slow_io(side: Side, seconds: float) -> None:
    await _loop_requests(side, [f"/slow?seconds={SLOW_SLEEP}"], seconds, clients=16)


async def _websockets(side: Side, seconds: float) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    url = side.base_url.replace("http://", "ws://") + "/ws/echo"
    deadline = time.monotonic() + seconds

    async def session(number: int) -> None:
        try:
            async with connect(url, open_timeout=10) as websocket:
                side.websocket_accepted += 1
                while time.monotonic() < deadline:
                    await websocket.send(f"message from client {number}")
                    await websocket.recv()
                    await asyncio.sleep(0.05)
        except InvalidStatus:
            side.websocket_refused += 1
        except (OSError, WebSocketException):
            side.failures += 1

    async def sessions() -> None:
        await asyncio.gather(*(session(number) for number in range(8)))

    # The HTTP traffic goes on beside the sessions.
    await asyncio.gather(sessions(), _loop_requests(side, ["/fast"], seconds, clients=2))


async def _long_stream(side: Side, seconds: float) -> None:
    chunks = max(int(seconds / 0.1), 1)
    await asyncio.gather(
        _loop_requests(side, [f"/stream?chunks={chunks}&delay=0.1"], seconds, clients=2),
        _loop_requests(side, ["/fast", "/items/7"], seconds, clients=4),
    )


async def _blocking(side: Side, seconds: float) -> None:
    await asyncio.gather(
        _loop_requests(side, [f"/blocking?seconds={BLOCKING_SLEEP}"], seconds, clients=3),
        _loop_requests(side, ["/fast", "/slow?seconds=0.05"], seconds, clients=4),
    )


STARLETTE_FLASK_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "slow-io",
        f"slow I/O: 16 clients, each request waits {SLOW_SLEEP:g} s",
        "WSGI: both workers busy (Workers: 2 of 2), the other 14 clients queue (queue time grows). "
        "ASGI: the requests wait together, up to all 16 in flight at once (In flight, Overview); "
        "loop time near zero.",
        0.3,
        _slow_io,
    ),
    Scenario(
        "websockets",
        "WebSockets: 8 sessions each side, a message every 50 ms",
        "ASGI: sessions and message rates (WebSockets). WSGI cannot hold a WebSocket: the "
        "upgrade is refused (426, counted in Routes as /ws/echo).",
        0.2,
        _websockets,
    ),
    Scenario(
        "long-stream",
        "a long stream: 2 clients stream for the whole scenario, 4 others ask for /fast",
        "WSGI: the two streams hold both workers for the whole scenario (Workers: 2 of 2 busy; "
        "In flight: the two /stream), so /fast waits until they end. ASGI: the streams await; "
        "/fast stays fast (Routes).",
        0.2,
        _long_stream,
    ),
    Scenario(
        "blocking",
        f"one blocking endpoint: time.sleep({BLOCKING_SLEEP:g}) on the loop, 3 clients",
        f"ASGI: the loop lag reaches the sleep, {BLOCKING_SLEEP * 1000:g} ms (Overview), and every "
        "other request waits behind it; the culprit's stack is in Blocking. WSGI: the same sleep "
        "only holds its own worker.",
        0.3,
        _blocking,
    ),
)


async def _django_sync(side: Side, seconds: float) -> None:
    await _loop_requests(side, ["/sync/", "/slow-sync/?seconds=0.05", "/async/"], seconds, clients=8)


DJANGO_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "django-sync",
        "Django: the same sync view under ASGI and WSGI",
        "ASGI: Django runs the sync view in a thread: offload time and thread hops (In flight, "
        "Routes). WSGI: the worker thread runs it, no hops; the async view makes hops there.",
        1.0,
        _django_sync,
    ),
)


# The scenarios of each demo plan, by the plan's name (what the load process is told).
SCENARIOS: dict[str, tuple[Scenario, ...]] = {
    STARLETTE_FLASK.name: STARLETTE_FLASK_SCENARIOS,
    DJANGO.name: DJANGO_SCENARIOS,
}


async def play(
    sides: Sequence[Side],
    scenarios: Sequence[Scenario],
    *,
    duration: float,
    announce: Announce | None = None,
    until: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Every scenario in turn, each at every side at once, for its share of ``duration``; with
    ``until``, each ends as soon as ``until()`` returns (its share then only bounds it)."""
    for index, scenario in enumerate(scenarios, 1):
        if announce is not None:
            announce(scenario.panel(index, len(scenarios)))
        seconds = duration * scenario.share
        driving = asyncio.gather(*(scenario.drive(side, seconds) for side in sides))
        if until is None:
            await driving
            continue
        told: asyncio.Future[None] = asyncio.ensure_future(until())
        tasks: set[asyncio.Future[Any]] = {driving, told}
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # a client's error, as without ``until``


# -- the summary -----------------------------------------------------------------------------


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


def _max_concurrency(view: dict[str, Any], interface: str) -> int:
    """The most requests in flight at once, per second: each process's largest concurrency at
    arrival (the others it found in flight) plus the arrival itself, summed over processes."""
    by_second: dict[int, int] = {}
    for process in view["processes"]:
        for entry in process["per_second"]:
            if entry["interface"] == interface and entry["requests"]:
                by_second[entry["second"]] = by_second.get(entry["second"], 0) + entry["concurrency_max"] + 1
    return max(by_second.values(), default=0)


_DURATION = c.metric("duration").name
_SESSIONS = c.metric("websocket_sessions").name


def interface_summary(side: Side, metrics: str, live: bytes) -> dict[str, Any]:
    """What ``--json`` prints for one side: from its /metrics, its live view and its clients."""
    view: dict[str, Any] = dict(parse_live_view(live))
    samples = parse(metrics)
    interface = side.interface
    summary = summarize(samples, interface)
    duration = histogram(samples, _DURATION, interface=interface)
    queue = histogram(samples, c.metric("queue").name, interface=interface)
    lags = [s["lag"] for p in view["processes"] for s in p["loop_lag"]]
    refused_recorded = sum(
        s.value
        for s in samples
        if s.name == _DURATION + "_count"
        and s.labels.get("interface") == interface
        and s.labels.get("route") == "/ws/echo"
        and s.labels.get("status") in ("403", "404", "426")
    ) + total(samples, _SESSIONS, outcome="rejected")
    return {
        "requests": int(summary.requests),
        "p50": summary.duration_p50,
        "p95": summary.duration_p95,
        "blocking_share": (summary.blocking_total / duration.sum) if duration.sum else None,
        "max_concurrency": _max_concurrency(view, interface),
        "queue_time_mean": queue.mean,
        "queue_time_p95": queue.quantile(0.95) if queue.count else None,
        "loop_lag_p99": _quantile(lags, 0.99),
        "websocket_sessions": {
            "accepted": side.websocket_accepted,
            "refused": side.websocket_refused,
            "accepted_recorded": int(total(samples, _SESSIONS, outcome="accepted")),
            "refused_recorded": int(refused_recorded),
        },
        "client": {
            "responses": side.responses,
            "failures": side.failures,
            "latency_p50": _quantile(side.latencies, 0.5),
            "latency_p95": _quantile(side.latencies, 0.95),
        },
    }


def fetch(base_url: str, token: str | None = None) -> tuple[str, bytes]:
    """A side's /metrics page and live view (with the server's live_token), after the traffic."""
    import httpx

    metrics = httpx.get(base_url + "/metrics", timeout=10.0)
    metrics.raise_for_status()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    live = httpx.get(base_url + LIVE_PATH, headers=headers, timeout=10.0)
    live.raise_for_status()
    return metrics.text, live.content
