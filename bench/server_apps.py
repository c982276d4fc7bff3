"""The apps the server-level benchmark serves, one module attribute per contender.

``uvicorn bench.server_apps:<name>`` / ``gunicorn bench.server_apps:<name>`` load them; each is
built only when the server imports this module, each on a registry of its own.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from prometheus_client.registry import CollectorRegistry

from bench.apps import HELLO, FloorASGI, FloorWSGI, starlette_hello
from bench.cases import _otel_providers
from gatewatch import GatewatchASGI, GatewatchWSGI

# The server-level rows: name in the table -> attribute here. The first is the bare app.
ASGI_FLOOR = WSGI_FLOOR = "floor: hand-written prometheus-client"
ASGI_CONTENDERS = {
    "bare app": "asgi_bare",
    ASGI_FLOOR: "asgi_floor",
    "gatewatch": "asgi_gatewatch",
    "gatewatch, lean (cpu_time, live view, loop watch off)": "asgi_gatewatch_lean",
    "starlette-exporter PrometheusMiddleware": "asgi_starlette_exporter",
    "gatewatch, OpenTelemetry spans + metrics": "asgi_gatewatch_otel",
    "OpenTelemetry contrib ASGI middleware": "asgi_otel",
    "OpenTelemetry contrib ASGI, one span (no receive/send spans)": "asgi_otel_one_span",
    # Traces from OpenTelemetry, metrics from Prometheus alone (a no-op meter provider).
    "gatewatch, OpenTelemetry spans only": "asgi_gatewatch_spans",
    "OpenTelemetry contrib ASGI, one span, spans only": "asgi_otel_one_span_only",
}
WSGI_CONTENDERS = {
    "bare Flask": "wsgi_bare",
    WSGI_FLOOR: "wsgi_floor",
    "gatewatch": "wsgi_gatewatch",
    "gatewatch, OpenTelemetry spans + metrics": "wsgi_gatewatch_otel",
    "OpenTelemetry contrib WSGI middleware": "wsgi_otel",
    "gatewatch, OpenTelemetry spans only": "wsgi_gatewatch_spans",
    "OpenTelemetry contrib WSGI, spans only": "wsgi_otel_spans_only",
}

# A benchmark run must not be slowed by its own log lines (the watchdog warns of real blocks).
logging.getLogger("gatewatch").setLevel(logging.ERROR)


def __getattr__(name: str) -> Any:
    """Build only the contender a server asks for (module-level ``__getattr__``, PEP 562)."""
    builder = _BUILDERS.get(name)
    if builder is None:
        raise AttributeError(name)
    app = builder()
    globals()[name] = app
    return app


def flask_hello() -> Flask:
    app = Flask("hello")

    @app.get("/")
    def hello() -> bytes:
        return HELLO

    return app


def _providers(*, metrics: bool) -> tuple[Any, Any]:
    from opentelemetry.metrics import NoOpMeterProvider

    tracer_provider, meter_provider = _otel_providers()
    return tracer_provider, meter_provider if metrics else NoOpMeterProvider()


def _otel_asgi(*, metrics: bool = True, **options: Any) -> Any:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    tracer_provider, meter_provider = _providers(metrics=metrics)
    return OpenTelemetryMiddleware(
        starlette_hello(), tracer_provider=tracer_provider, meter_provider=meter_provider, **options
    )


def _otel_wsgi(*, metrics: bool = True) -> Any:
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

    tracer_provider, meter_provider = _providers(metrics=metrics)
    return OpenTelemetryMiddleware(
        flask_hello(), tracer_provider=tracer_provider, meter_provider=meter_provider
    )


def _gatewatch_otel(interface: str, *, metrics: bool = True) -> Any:
    tracer_provider, meter_provider = _providers(metrics=metrics)
    options = {"otel": True, "tracer_provider": tracer_provider, "meter_provider": meter_provider}
    if interface == "asgi":
        return GatewatchASGI(starlette_hello(), registry=CollectorRegistry(), **options)
    return GatewatchWSGI(flask_hello(), registry=CollectorRegistry(), **options)


def _starlette_exporter() -> Any:
    from starlette_exporter import PrometheusMiddleware

    return PrometheusMiddleware(starlette_hello())


_BUILDERS: dict[str, Any] = {
    "asgi_bare": starlette_hello,
    "asgi_floor": lambda: FloorASGI(starlette_hello(), CollectorRegistry()),
    "asgi_gatewatch": lambda: GatewatchASGI(starlette_hello(), registry=CollectorRegistry()),
    "asgi_gatewatch_lean": lambda: GatewatchASGI(
        starlette_hello(),
        registry=CollectorRegistry(),
        cpu_time=False,
        live_path=None,
        loop_lag_interval=None,
        block_threshold=None,
    ),
    "asgi_starlette_exporter": _starlette_exporter,
    "asgi_gatewatch_otel": lambda: _gatewatch_otel("asgi"),
    "wsgi_gatewatch_otel": lambda: _gatewatch_otel("wsgi"),
    "asgi_otel": _otel_asgi,
    "asgi_otel_one_span": lambda: _otel_asgi(exclude_spans=["receive", "send"]),
    "asgi_otel_one_span_only": lambda: _otel_asgi(metrics=False, exclude_spans=["receive", "send"]),
    "asgi_gatewatch_spans": lambda: _gatewatch_otel("asgi", metrics=False),
    "wsgi_gatewatch_spans": lambda: _gatewatch_otel("wsgi", metrics=False),
    "wsgi_otel_spans_only": lambda: _otel_wsgi(metrics=False),
    "wsgi_bare": flask_hello,
    "wsgi_floor": lambda: FloorWSGI(flask_hello(), CollectorRegistry()),
    "wsgi_gatewatch": lambda: GatewatchWSGI(flask_hello(), registry=CollectorRegistry()),
    "wsgi_otel": _otel_wsgi,
}


async def _thousand_routes(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    from gatewatch import set_route

    # Every path its own route template: /r/0 ... /r/999.
    set_route(scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


_BUILDERS["asgi_thousand_routes"] = lambda: GatewatchASGI(
    _thousand_routes, registry=CollectorRegistry(), metrics_path="/metrics", max_routes=2000
)
