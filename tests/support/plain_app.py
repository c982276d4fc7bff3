"""An ASGI app that is not gatewatch's, for ``gatewatch top``'s first check: an HTML page at any
path, JSON under ``/api/``, and a ``/metrics`` page of series of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from gatewatch.types import Receive, Scope, Send

_REGISTRY = CollectorRegistry()
Counter("shop_orders", "Orders the shop took.", registry=_REGISTRY).inc()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/metrics":
        body, media = generate_latest(_REGISTRY), b"text/plain; version=0.0.4"
    elif path.startswith("/api/"):
        body, media = b'{"orders": 3}', b"application/json"
    else:
        body, media = b"<html><body>The shop</body></html>", b"text/html"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", media)]})
    await send({"type": "http.response.body", "body": body})
