"""Apps whose every path is a new route label, and whose WebSocket clients pick the close code:
the worst case for label caps under several worker processes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI, set_route
from gatewatch.types import Environ, Receive, Scope, Send, StartResponse

MAX_ROUTES = 50


def every_path_a_route(environ: Environ, start_response: StartResponse) -> list[bytes]:
    set_route(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


async def echo_until_closed(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    set_route("/ws")
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.disconnect":
            return


# Registries of their own: the test process imports this module too (for MAX_ROUTES), and
# must not leave a max_routes=50 monitor on the global registry for other tests.
wsgi = GatewatchWSGI(
    every_path_a_route, metrics_path="/metrics", max_routes=MAX_ROUTES, registry=CollectorRegistry()
)
asgi = GatewatchASGI(
    echo_until_closed, metrics_path="/metrics", max_routes=MAX_ROUTES, registry=CollectorRegistry()
)
