"""The scrape benchmark's apps: one Starlette app with N routes, instrumented by each peer.

Every peer serves the same routes (``/r{i}/{item_id}``, ``i`` < N) and its ``/metrics`` the way
its documentation sets it up, on the global registry (each peer's default: the process and GC
collectors come along, as in production). The global registry means one peer per process:
``python -m bench.scrape_render`` and uvicorn each build a single one.

``uvicorn bench.scrape_apps:<peer>_<N>`` (for example ``gatewatch_1000``) builds that app when
the server imports the attribute (module-level ``__getattr__``, PEP 562).
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import REGISTRY, make_asgi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.apps import FloorASGI
from gatewatch import GatewatchASGI
from gatewatch.types import ASGIApp, Receive, Scope, Send

METRICS = "/metrics"
# starlette-exporter serves OpenMetrics only on a route of its own (handle_openmetrics).
OPENMETRICS_ROUTE = "/metrics/openmetrics"
OK = b"ok"

GATEWATCH = "gatewatch"
# gatewatch's families rendered by prometheus-client's own exposition: issue 28's render target
# is gatewatch's CPU per series against this one's (the same families, side by side).
GATEWATCH_BY_PC = "gatewatch, by prometheus-client"
FLOOR = "prometheus-client"
STARLETTE_EXPORTER = "starlette-exporter"
INSTRUMENTATOR = "prometheus-fastapi-instrumentator"
# Row order; the floor (the hand-written prometheus-client middleware) is the ratios' reference.
PEERS = (GATEWATCH, FLOOR, STARLETTE_EXPORTER, INSTRUMENTATOR)
# The render table has one more row (the server one's would be gatewatch's until the change).
RENDER_PEERS = (GATEWATCH, GATEWATCH_BY_PC, FLOOR, STARLETTE_EXPORTER, INSTRUMENTATOR)
# What each peer answers besides plain text: gzip on /metrics, and where OpenMetrics is (None: nowhere).
GZIP = {
    GATEWATCH: True,
    GATEWATCH_BY_PC: True,
    FLOOR: True,
    STARLETTE_EXPORTER: False,
    INSTRUMENTATOR: True,
}
OPENMETRICS = {
    GATEWATCH: METRICS,
    GATEWATCH_BY_PC: METRICS,
    FLOOR: METRICS,
    STARLETTE_EXPORTER: OPENMETRICS_ROUTE,
    INSTRUMENTATOR: None,
}
_ATTRIBUTES = {
    "gatewatch": GATEWATCH,
    "gatewatch_by_pc": GATEWATCH_BY_PC,
    "floor": FLOOR,
    "starlette_exporter": STARLETTE_EXPORTER,
    "instrumentator": INSTRUMENTATOR,
}

# A benchmark run must not be slowed by its own log lines: gatewatch's watchdog rightly warns
# when a scrape on the loop holds it, which is what this benchmark measures, not reads.
logging.getLogger("gatewatch").setLevel(logging.ERROR)


def route_path(index: int, item: str = "1") -> str:
    """A path that the ``index``-th route serves."""
    return f"/r{index}/{item}"


async def _item(request: Request) -> Response:
    return PlainTextResponse(OK)


def routes_app(routes: int) -> Starlette:
    """The app every peer wraps: ``routes`` route templates, each answering ``ok``."""
    return Starlette(routes=[Route(f"/r{index}/{{item_id}}", _item) for index in range(routes)])


def _gatewatch(routes: int) -> ASGIApp:
    # Its defaults, but for max_routes: past it (500 by default) routes become <other>, and
    # every peer must count the same routes.
    return GatewatchASGI(routes_app(routes), metrics_path=METRICS, max_routes=max(500, routes + 10))


class _MetricsBeside:
    """``/metrics`` answered by prometheus-client's own ASGI app; everything else by the
    instrumented app (so the floor does not count its scrapes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.metrics = make_asgi_app(REGISTRY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == METRICS:
            await self.metrics(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _gatewatch_by_pc(routes: int) -> ASGIApp:
    return _MetricsBeside(GatewatchASGI(routes_app(routes), max_routes=max(500, routes + 10)))


def _floor(routes: int) -> ASGIApp:
    return _MetricsBeside(FloorASGI(routes_app(routes), REGISTRY))


def _starlette_exporter(routes: int) -> ASGIApp:
    from starlette_exporter import PrometheusMiddleware, handle_metrics, handle_openmetrics

    app = routes_app(routes)
    # As its README sets it up (its handlers are sync: Starlette runs them in a thread).
    app.add_middleware(PrometheusMiddleware)
    app.add_route(METRICS, handle_metrics)
    app.add_route(OPENMETRICS_ROUTE, handle_openmetrics)
    return app


def _instrumentator(routes: int) -> ASGIApp:
    from prometheus_fastapi_instrumentator import Instrumentator

    # It instruments any Starlette app (FastAPI is one); gzip when the scraper asks, which
    # its expose() leaves off by default.
    app = routes_app(routes)
    Instrumentator().instrument(app).expose(app, should_gzip=True)
    return app


_BUILDERS = {
    GATEWATCH: _gatewatch,
    GATEWATCH_BY_PC: _gatewatch_by_pc,
    FLOOR: _floor,
    STARLETTE_EXPORTER: _starlette_exporter,
    INSTRUMENTATOR: _instrumentator,
}


def build(peer: str, routes: int) -> ASGIApp:
    """``peer``'s app over ``routes`` routes, registered on the global registry: once a process."""
    return _BUILDERS[peer](routes)


def attribute(peer: str, routes: int) -> str:
    """The module attribute uvicorn loads for ``peer`` at ``routes`` routes."""
    name = next(key for key, value in _ATTRIBUTES.items() if value == peer)
    return f"{name}_{routes}"


def __getattr__(name: str) -> Any:
    prefix, _, routes = name.rpartition("_")
    peer = _ATTRIBUTES.get(prefix)
    if peer is None or not routes.isdigit():
        raise AttributeError(name)
    app = build(peer, int(routes))
    globals()[name] = app
    return app
