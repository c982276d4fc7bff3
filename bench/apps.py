"""The hello-world apps and "the floor": a 15-line prometheus-client middleware per interface.

The floor is what a careful hand-written middleware costs (a counter, a histogram and a
gauge, ``.labels(...)`` on every request); gatewatch records far more numbers than it
and is measured against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.registry import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gatewatch.types import (
    ASGIApp,
    Environ,
    ExcInfo,
    Message,
    Receive,
    Scope,
    Send,
    StartResponse,
    Write,
    WSGIApp,
)

HELLO = b"Hello, world!"
LABELS = ("method", "route", "status")


async def _hello(request: Request) -> Response:
    return PlainTextResponse(HELLO)


def starlette_hello() -> Starlette:
    return Starlette(routes=[Route("/", _hello)])


def wsgi_hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
    return [HELLO]


class FloorASGI:
    """The floor, ASGI: a counter, a histogram and a gauge, labelled per request."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter("floor_requests", "Requests", LABELS, registry=registry)
        self.duration = Histogram("floor_duration_seconds", "Duration", LABELS[:2], registry=registry)
        self.in_flight = Gauge("floor_in_flight", "In flight", LABELS[:1], registry=registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_flight = self.in_flight.labels(scope["method"])
        in_flight.inc()
        started = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "<unmatched>")
            self.duration.labels(scope["method"], route).observe(perf_counter() - started)
            self.requests.labels(scope["method"], route, str(status)).inc()
            in_flight.dec()


class FloorWSGI:
    """The floor, WSGI: the same three metrics; it times the call (not the iteration)."""

    def __init__(self, app: WSGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter("floor_requests", "Requests", LABELS, registry=registry)
        self.duration = Histogram("floor_duration_seconds", "Duration", LABELS[:2], registry=registry)
        self.in_flight = Gauge("floor_in_flight", "In flight", LABELS[:1], registry=registry)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method, route = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        status = ["500"]

        def start_status(line: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None) -> Write:
            status[0] = line[:3]
            return start_response(line, headers, exc_info)

        in_flight = self.in_flight.labels(method)
        in_flight.inc()
        started = perf_counter()
        try:
            return self.app(environ, start_status)
        finally:
            self.duration.labels(method, route).observe(perf_counter() - started)
            self.requests.labels(method, route, status[0]).inc()
            in_flight.dec()
