"""A pure ASGI app with 1 000 routes already recorded, wrapped by gatewatch, for the tests of a
scrape under a real server; an outer layer notes, in order, each body message ``/metrics``
sends and each ``/ping`` answered (``/order`` reads them back, and starts afresh)."""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from gatewatch import GatewatchASGI
from gatewatch.types import Message, Receive, Scope, Send

ROUTES = 1000
registry = CollectorRegistry()
user_counter = Counter("user_orders", "The app's own counter, beside gatewatch's.", registry=registry)
user_counter.inc(3)
events: list[str] = []


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/order":
        body = json.dumps(events).encode()
        events.clear()
    else:
        body = b"pong"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


# Every histogram per route (about 94 000 series): a scrape long enough, even on a quiet
# machine, for a request sent once its first bytes arrive to come in before its end.
inner = GatewatchASGI(
    app,
    registry=registry,
    metrics_path="/metrics",
    max_routes=ROUTES + 10,
    block_threshold=0.2,
    series="full",
)


def _record(routes: int) -> None:
    monitor = inner.monitor
    for index in range(routes):
        record = monitor.start("asgi", "GET", f"/r{index}/1")
        record.route, record.status, record.cpu = f"/r{index}/{{id}}", 200, 0.001
        record.first_byte = record.start + 0.002
        record.request_bytes, record.response_bytes = 10, 20
        record.response_ended()
        monitor.leave_in_flight(record)
        monitor.finish(record, time.perf_counter() + 0.001)


_record(ROUTES)


async def wrapped(scope: Scope, receive: Receive, send: Send) -> Any:
    if scope["type"] != "http" or scope["path"] != "/metrics":
        if scope["type"] == "http" and scope["path"] == "/ping":
            events.append("ping")
        return await inner(scope, receive, send)

    async def noting(message: Message) -> None:
        if message["type"] == "http.response.body":
            events.append("metrics" if message.get("more_body") else "metrics-end")
        await send(message)

    return await inner(scope, receive, noting)
