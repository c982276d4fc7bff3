"""The longest an event loop waits on a ``/metrics`` scrape, under a real uvicorn.

One client asks ``/ping`` over and over while another scrapes (as Prometheus does: OpenMetrics,
gzip); the longest and the 99th-percentile wait of the pings sent during scrapes, beside the same
app with no scrape, and beside prometheus-client's own ASGI app over the same registry.

``python -m bench.loop_hold [routes]``; :func:`loop_hold` is what a scrape benchmark calls.
``uvicorn bench.loop_hold:app`` serves the app (``GATEWATCH_BENCH_ROUTES`` routes recorded).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, make_asgi_app

from gatewatch import GatewatchASGI
from gatewatch.demo.servers import ServerProcess, free_port, uvicorn_command
from gatewatch.types import Receive, Scope, Send

SCRAPE_HEADERS = {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"}
_ROUTES = int(os.environ.get("GATEWATCH_BENCH_ROUTES", "1000"))
registry = CollectorRegistry()
_client_metrics = make_asgi_app(registry)


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/client-metrics":
        # prometheus-client's own exposition of the same registry, for comparison.
        await _client_metrics(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"pong"})


app = GatewatchASGI(_hello, registry=registry, metrics_path="/metrics", max_routes=_ROUTES + 10)
for _index in range(_ROUTES):
    _record = app.monitor.start("asgi", "GET", f"/r{_index}/1")
    _record.route, _record.status, _record.cpu = f"/r{_index}/{{id}}", 200, 0.001
    _record.first_byte = _record.start + 0.002
    _record.request_bytes, _record.response_bytes = 10, 20
    _record.response_ended()
    app.monitor.leave_in_flight(_record)
    app.monitor.finish(_record, time.perf_counter() + 0.001)
if os.environ.get("GATEWATCH_BENCH_GC_FREEZE"):
    # The process' objects so far out of the garbage collector's full passes, which otherwise
    # take tens of ms in this process and hold the loop whoever triggers them.
    gc.freeze()


def _waits(base_url: str, scrape_path: str | None, scrapes: int, seconds: float) -> list[float]:
    """The pings' waits while ``scrapes`` scrapes of ``scrape_path`` run back to back (or for
    ``seconds`` without a scrape)."""
    done = threading.Event()
    waits: list[float] = []

    def ping() -> None:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:
            while not done.is_set():
                sent = time.perf_counter()
                client.get("/ping")
                waits.append(time.perf_counter() - sent)

    pinger = threading.Thread(target=ping)
    pinger.start()
    try:
        if scrape_path is None:
            time.sleep(seconds)
        else:
            # From another process: this one's GIL would otherwise add the scraper's reading
            # (and unzipping) to the pings' waits.
            script = (
                "import httpx, sys\n"
                f"with httpx.Client(base_url={base_url!r}, timeout=60.0) as client:\n"
                f"    for _ in range({scrapes}):\n"
                f"        assert client.get({scrape_path!r}, headers={SCRAPE_HEADERS!r}).status_code == 200\n"
            )
            subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    finally:
        done.set()
        pinger.join()
    return waits


def loop_hold(routes: int = 1000, scrapes: int = 10, *, gc_freeze: bool = False) -> dict[str, Any]:
    """Per case (bare, gatewatch's scrape, prometheus-client's): the pings' longest and 99th
    percentile waits in ms, and how many pings were timed. ``gc_freeze``: the server freezes its
    objects after start-up (gc.freeze), to tell the scrape's own holds from full collections."""
    port = free_port()
    env = {"GATEWATCH_BENCH_ROUTES": str(routes), "GATEWATCH_BENCH_GC_FREEZE": "1" if gc_freeze else ""}
    results: dict[str, Any] = {"routes": routes, "gc_freeze": gc_freeze}
    command = uvicorn_command("bench.loop_hold:app", port)
    with ServerProcess(command, port=port, ready_path="/ping", env=env) as server:
        started = time.perf_counter()
        ours = _waits(server.base_url, "/metrics", scrapes, 0)
        elapsed = time.perf_counter() - started
        cases = {
            "bare": _waits(server.base_url, None, 0, elapsed),
            "gatewatch": ours,
            "prometheus-client": _waits(server.base_url, "/client-metrics", max(scrapes // 5, 1), 0),
        }
    for name, waits in cases.items():
        waits.sort()
        results[name] = {
            "max_ms": waits[-1] * 1e3,
            "p99_ms": waits[int(len(waits) * 0.99)] * 1e3,
            "pings": len(waits),
        }
    return results


if __name__ == "__main__":
    for count in [int(a) for a in sys.argv[1:]] or [1000]:
        print(loop_hold(count))
        print(loop_hold(count, gc_freeze=True))
