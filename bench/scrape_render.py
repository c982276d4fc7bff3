"""One peer's scrape, in process: render CPU, bytes and series of its ``/metrics``.

Run as a child process, one peer and route count each (every peer registers on the global
registry): ``python -m bench.scrape_render PEER ROUTES SCRAPES`` prints one JSON object.
The app is called directly on an asyncio loop; every route first gets a few requests at
status 200, so that every route has its series. Each scrape is timed with two clocks:
``time.process_time`` (every thread of the process: a peer whose handler runs in a thread
pays there) and ``time.thread_time`` of the loop's thread (what the scrape held the loop).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from prometheus_client.parser import text_string_to_metric_families

from bench.scrape_apps import GZIP, METRICS, OPENMETRICS, build, route_path
from gatewatch.types import ASGIApp, Message

REQUESTS_PER_ROUTE = 2
OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0"
# Each peer labels the route its own way (route, path, handler); the template is the same.
_TEMPLATE = re.compile(r"/r\d+/\{item_id\}")


@dataclass(frozen=True)
class Render:
    """One peer at one route count. CPU in seconds per scrape (medians); None: not supported."""

    peer: str
    routes: int
    scrapes: int  # timed scrapes per format
    series: int  # samples in the plain text
    route_series: int  # of which labelled with one of the routes' templates
    plain_bytes: int
    cpu: float
    loop_cpu: float
    gzip_bytes: int | None = None
    gzip_cpu: float | None = None
    openmetrics_bytes: int | None = None
    openmetrics_series: int | None = None
    openmetrics_cpu: float | None = None


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


async def request(app: ASGIApp, path: str, headers: Sequence[tuple[str, str]] = ()) -> _Response:
    """GET ``path`` through ``app`` as a server would call it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *((k.lower().encode(), v.encode()) for k, v in headers)],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    status, response_headers, body = 0, dict[bytes, bytes](), bytearray()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update((k.lower(), v) for k, v in message.get("headers", []))
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return _Response(status, response_headers, bytes(body))


def series(text: str) -> tuple[int, int]:
    """Samples in a text exposition, and how many of them name one of the routes' templates."""
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    routed = sum(1 for s in samples if any(_TEMPLATE.fullmatch(v) for v in s.labels.values()))
    return len(samples), routed


def sample_lines(text: str) -> int:
    """Samples in an exposition of either format, counted by line: its parser would take
    seconds at 100 000 series, and the plain text's count is parsed already."""
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def _timed(
    loop: asyncio.AbstractEventLoop, app: ASGIApp, path: str, headers: Sequence[tuple[str, str]], scrapes: int
) -> tuple[_Response, float, float]:
    """The last response, and the medians of process CPU and loop-thread CPU per scrape."""
    cpu, loop_cpu = [], []
    response = None
    for _ in range(scrapes):
        started, started_thread = time.process_time(), time.thread_time()
        response = loop.run_until_complete(request(app, path, headers))
        loop_cpu.append(time.thread_time() - started_thread)
        cpu.append(time.process_time() - started)
        if response.status != 200:
            raise AssertionError(f"{path} answered {response.status}")
    assert response is not None
    return response, statistics.median(cpu), statistics.median(loop_cpu)


def measure(peer: str, routes: int, scrapes: int) -> Render:
    loop = asyncio.new_event_loop()
    try:
        app = build(peer, routes)
        for index in range(routes):
            for item in range(REQUESTS_PER_ROUTE):
                served = loop.run_until_complete(request(app, route_path(index, str(item))))
                if (served.status, served.body) != (200, b"ok"):
                    raise AssertionError(f"{peer}: route {index} answered {served.status} {served.body!r}")
        # The first scrape pays for lazy imports and first-time caches: not timed.
        loop.run_until_complete(request(app, METRICS))
        plain, cpu, loop_cpu = _timed(loop, app, METRICS, (), scrapes)
        text = plain.body.decode()
        total, routed = series(text)
        result = Render(peer, routes, scrapes, total, routed, len(plain.body), cpu, loop_cpu)
        if GZIP[peer]:
            zipped, gzip_cpu, _ = _timed(loop, app, METRICS, [("Accept-Encoding", "gzip")], scrapes)
            if zipped.headers.get(b"content-encoding") != b"gzip":
                raise AssertionError(f"{peer}: asked for gzip, got {zipped.headers}")
            # The same exposition, compressed. Not always exactly as many series: gatewatch's
            # watchdog may have counted a scrape's hold of the loop in between.
            if abs(sample_lines(gzip.decompress(zipped.body).decode()) - total) > 20 + total // 100:
                raise AssertionError(f"{peer}: the gzipped scrape is not the plain one compressed")
            result = _replace(result, gzip_bytes=len(zipped.body), gzip_cpu=gzip_cpu)
        openmetrics_path = OPENMETRICS[peer]
        if openmetrics_path is not None:
            accept = [("Accept", OPENMETRICS_ACCEPT)]
            om, om_cpu, _ = _timed(loop, app, openmetrics_path, accept, scrapes)
            if not om.headers.get(b"content-type", b"").startswith(b"application/openmetrics-text"):
                raise AssertionError(f"{peer}: asked for OpenMetrics, got {om.headers}")
            om_series = sample_lines(om.body.decode())
            result = _replace(
                result, openmetrics_bytes=len(om.body), openmetrics_series=om_series, openmetrics_cpu=om_cpu
            )
        return result
    finally:
        loop.close()


def _replace(render: Render, **changes: float | int) -> Render:
    return Render(**{**asdict(render), **changes})


def main(argv: Sequence[str]) -> int:
    peer, routes, scrapes = argv
    print(json.dumps(asdict(measure(peer, int(routes), int(scrapes)))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
