"""The longest loop hold during a scrape, in a real server.

uvicorn (uvloop, httptools, one worker, as in the server-level benchmark) serves one peer's app
on 127.0.0.1, every route requested first. A probe then sends small requests to a cheap route
one after another and records each one's latency: first with no scrapes (the same app, bare of
them), then while a scraper in another process scrapes ``/metrics`` repeatedly, asking what
Prometheus asks for (OpenMetrics or text, gzip), with a pause between scrapes so that no request
can wait for two. A request that waits behind a scrape on the event loop shows that wait in its
latency; the requests counted as sent during scrapes are those whose time overlaps a scrape's
(both processes read the same monotonic clock). The server is pinned to one CPU, the scraper and
the probe to the other (as far as ``taskset`` and the CPUs allow), and it is stopped by PID.

``python -m bench.scrape_server URL SCRAPES MIN_SECONDS MAX_SECONDS`` is the scraper: it prints
one JSON object (each scrape's start and end on the monotonic clock, and the last one's bytes).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bench.scrape_apps import METRICS, attribute, route_path
from bench.scrape_render import REQUESTS_PER_ROUTE
from bench.server_bench import ROOT, Pinning
from gatewatch.demo.servers import ServerProcess, free_port, uvicorn_command

PROBE = route_path(0, "probe")
# What Prometheus 3 sends by default (scrape_protocols, then gzip).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
UNSET = ("PROMETHEUS_MULTIPROC_DIR", "GATEWATCH_LIVE_DIR", "COVERAGE_PROCESS_CONFIG")
# Between two scrapes: a request that arrived during one is served before the next begins.
PAUSE = 0.05


@dataclass(frozen=True)
class Phase:
    """How long the probe's requests took, in seconds."""

    latencies: list[float]

    @property
    def longest(self) -> float:
        return max(self.latencies, default=math.nan)

    @property
    def p99(self) -> float:
        if len(self.latencies) < 2:
            return self.longest
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98]


@dataclass(frozen=True)
class Hold:
    """One peer at one route count: the probe without scrapes and during them."""

    peer: str
    routes: int
    bare: Phase
    scraping: Phase
    scrapes: list[float]  # each scrape's seconds, as the scraper saw it
    scrape_bytes: int  # the last scrape's body, as sent (compressed or not)


def _get(connection: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None) -> bytes:
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return body


def _pin_this_thread(pins: Pinning) -> None:
    # On Linux the affinity of pid 0 is the calling thread's: the probe alone moves.
    if pins.pinned:
        os.sched_setaffinity(0, {int(pins.load[-1])})


Timed = tuple[float, float]  # (start, end) on the monotonic clock


def _probe(url: str, pins: Pinning, stop: threading.Event, minimum: int, out: list[Timed]) -> None:
    """Requests to the cheap route one after another until ``stop`` (at least ``minimum``)."""
    _pin_this_thread(pins)
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        while len(out) < minimum or not stop.is_set():
            started = time.monotonic()
            _get(connection, PROBE)
            out.append((started, time.monotonic()))
    finally:
        connection.close()


def _probing(url: str, pins: Pinning, minimum: int) -> tuple[threading.Thread, threading.Event, list[Timed]]:
    stop, latencies = threading.Event(), list[Timed]()
    thread = threading.Thread(target=_probe, args=(url, pins, stop, minimum, latencies), daemon=True)
    thread.start()
    return thread, stop, latencies


def loop_hold(
    peer: str,
    routes: int,
    pins: Pinning,
    *,
    bare_seconds: float = 2.0,
    scrapes: int = 3,
    min_seconds: float = 2.0,
    max_seconds: float = 60.0,
) -> Hold:
    """Serve ``peer``'s app over ``routes`` routes, probe it bare, then probe it while scraped."""
    port = free_port()
    command = uvicorn_command(
        f"bench.scrape_apps:{attribute(peer, routes)}",
        port,
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
    )
    server = ServerProcess([*pins.server, *command], port=port, ready_path=PROBE, cwd=ROOT, start_timeout=60)
    # Single-process numbers, and no coverage tracing of a timing run.
    for name in UNSET:
        server.env.pop(name, None)
    with server:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for index in range(routes):
                for item in range(REQUESTS_PER_ROUTE):
                    _get(connection, route_path(index, str(item)))
            _get(connection, METRICS)  # lazy imports and first-time caches, not measured
        finally:
            connection.close()
        thread, stop, bare = _probing(server.base_url, pins, minimum=1)
        time.sleep(bare_seconds)
        stop.set()
        thread.join()
        thread, stop, scraping = _probing(server.base_url, pins, minimum=1)
        try:
            scraper = _scrape(pins, server.base_url + METRICS, scrapes, min_seconds, max_seconds)
        finally:
            stop.set()
            thread.join()
    scrapes_timed = [(start, end) for start, end in scraper["scrapes"]]
    during = [
        end - start
        for start, end in scraping
        if any(start < scrape_end and end > scrape_start for scrape_start, scrape_end in scrapes_timed)
    ]
    return Hold(
        peer,
        routes,
        Phase([end - start for start, end in bare]),
        Phase(during),
        [end - start for start, end in scrapes_timed],
        scraper["bytes"],
    )


def _scrape(pins: Pinning, url: str, scrapes: int, min_seconds: float, max_seconds: float) -> dict[str, Any]:
    command = [*pins.load, sys.executable, "-m", "bench.scrape_server", url]
    command += [str(scrapes), str(min_seconds), str(max_seconds)]
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=max_seconds + 120, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def scrape_loop(url: str, scrapes: int, min_seconds: float, max_seconds: float) -> dict[str, object]:
    """Scrape ``url`` back to back: at least ``scrapes`` times and ``min_seconds``, at most
    ``max_seconds`` (a scrape under way finishes)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=max_seconds + 60)
    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    timed: list[Timed] = []
    body = b""
    started = time.monotonic()
    try:
        while True:
            elapsed = time.monotonic() - started
            enough = len(timed) >= scrapes and elapsed >= min_seconds
            if enough or (timed and elapsed >= max_seconds):
                break
            if timed:
                time.sleep(PAUSE)
            before = time.monotonic()
            body = _get(connection, parts.path, headers)
            timed.append((before, time.monotonic()))
    finally:
        connection.close()
    return {"scrapes": timed, "bytes": len(body)}


def main(argv: Sequence[str]) -> int:
    url, scrapes, min_seconds, max_seconds = argv
    print(json.dumps(scrape_loop(url, int(scrapes), float(min_seconds), float(max_seconds))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
