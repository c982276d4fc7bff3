"""The contenders: each wraps a fresh hello-world app and can run ``n`` requests in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.util import setup_testing_defaults

from prometheus_client.registry import CollectorRegistry

from bench.apps import HELLO, FloorASGI, FloorWSGI, starlette_hello, wsgi_hello
from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.types import ASGIApp, Environ, ExcInfo, Message, WSGIApp

BARE = "bare app"
FLOOR = "floor: hand-written prometheus-client"
GATEWATCH = "gatewatch"
GATEWATCH_NO_CPU = "gatewatch, cpu_time=False"
GATEWATCH_NO_LOOP = "gatewatch, loop lag and watchdog off"
GATEWATCH_BARE = "gatewatch, cpu_time + live view + loop watch off"
GATEWATCH_SPANS = "gatewatch, OpenTelemetry spans on"
GATEWATCH_OTEL = "gatewatch, OpenTelemetry spans + metrics"
OTEL = "OpenTelemetry OpenTelemetryMiddleware"
OTEL_ONE_SPAN = "OpenTelemetry ASGI, one span (no receive/send spans)"
STARLETTE_EXPORTER = "starlette-exporter PrometheusMiddleware"
ASGI_NAMES = (
    BARE,
    FLOOR,
    GATEWATCH,
    GATEWATCH_NO_CPU,
    GATEWATCH_NO_LOOP,
    GATEWATCH_BARE,
    GATEWATCH_SPANS,
    GATEWATCH_OTEL,
    OTEL,
    OTEL_ONE_SPAN,
    STARLETTE_EXPORTER,
)
WSGI_NAMES = (BARE, FLOOR, GATEWATCH, GATEWATCH_NO_CPU, GATEWATCH_SPANS, GATEWATCH_OTEL, OTEL)


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[int], None]  # serve n requests, back to back
    check: Callable[[], None]  # serve one and verify the response went through untouched


# -- ASGI -------------------------------------------------------------------------------

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"localhost"), (b"user-agent", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}
REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> Message:
    return REQUEST


async def _send(message: Message) -> None:
    return None


async def _serve(app: ASGIApp, n: int) -> None:
    for _ in range(n):
        # A fresh scope per request: routers write into it.
        await app(dict(SCOPE), _receive, _send)


async def _serve_checked(app: ASGIApp) -> tuple[int, bytes]:
    status = 0
    body = b""

    async def send(message: Message) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    await app(dict(SCOPE), _receive, send)
    return status, body


def asgi_case(name: str, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> Case:
    def run(n: int) -> None:
        loop.run_until_complete(_serve(app, n))

    def check() -> None:
        status, body = loop.run_until_complete(_serve_checked(app))
        if (status, body) != (200, HELLO):
            raise AssertionError(f"{name}: got {status} {body!r}")

    return Case(name, run, check)


def _otel_providers() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    tracer_provider = TracerProvider()
    # Spans are recorded and ended, then dropped: the middleware's own cost, no exporter's.
    tracer_provider.add_span_processor(SpanProcessor())
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return tracer_provider, meter_provider


def asgi_cases(loop: asyncio.AbstractEventLoop) -> list[Case]:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as OtelASGI
    from opentelemetry.metrics import NoOpMeterProvider
    from starlette_exporter import PrometheusMiddleware

    tracer_provider, meter_provider = _otel_providers()
    apps: list[tuple[str, ASGIApp]] = [
        (BARE, starlette_hello()),
        (FLOOR, FloorASGI(starlette_hello(), CollectorRegistry())),
        (GATEWATCH, GatewatchASGI(starlette_hello(), registry=CollectorRegistry())),
        (
            GATEWATCH_NO_CPU,
            GatewatchASGI(starlette_hello(), registry=CollectorRegistry(), cpu_time=False),
        ),
        # The watchdog thread and the lag probe cost nothing per request: this row should
        # match "gatewatch" within the spread.
        (
            GATEWATCH_NO_LOOP,
            GatewatchASGI(
                starlette_hello(), registry=CollectorRegistry(), loop_lag_interval=None, block_threshold=None
            ),
        ),
        (
            GATEWATCH_BARE,
            GatewatchASGI(
                starlette_hello(),
                registry=CollectorRegistry(),
                cpu_time=False,
                live_path=None,
                loop_lag_interval=None,
                block_threshold=None,
            ),
        ),
        (
            GATEWATCH_SPANS,
            GatewatchASGI(
                starlette_hello(),
                registry=CollectorRegistry(),
                otel=True,
                tracer_provider=tracer_provider,
                meter_provider=NoOpMeterProvider(),
            ),
        ),
        (
            GATEWATCH_OTEL,
            GatewatchASGI(
                starlette_hello(),
                registry=CollectorRegistry(),
                otel=True,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
            ),
        ),
        (
            OTEL,
            OtelASGI(starlette_hello(), tracer_provider=tracer_provider, meter_provider=meter_provider),
        ),
        (
            OTEL_ONE_SPAN,
            OtelASGI(
                starlette_hello(),
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                exclude_spans=["receive", "send"],
            ),
        ),
        # starlette-exporter has no registry option: it registers in the default one.
        (STARLETTE_EXPORTER, PrometheusMiddleware(starlette_hello())),
    ]
    return [asgi_case(name, app, loop) for name, app in apps]


# -- WSGI -------------------------------------------------------------------------------


def _environ() -> Environ:
    environ: Environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
    setup_testing_defaults(environ)
    return environ


ENVIRON = _environ()


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None) -> Any:
    return _write


def _write(data: bytes) -> None:
    return None


def _consume(result: Iterable[bytes]) -> bytes:
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def wsgi_case(name: str, app: WSGIApp) -> Case:
    def run(n: int) -> None:
        environ, start_response = ENVIRON, _start_response
        for _ in range(n):
            # A fresh environ per request: middlewares replace wsgi.input in it.
            result = app(dict(environ), start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def check() -> None:
        seen: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
            seen.append(status)
            return _write

        body = _consume(app(dict(ENVIRON), start_response))
        if (seen, body) != (["200 OK"], HELLO):
            raise AssertionError(f"{name}: got {seen} {body!r}")

    return Case(name, run, check)


def wsgi_cases() -> list[Case]:
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OtelWSGI
    from opentelemetry.metrics import NoOpMeterProvider

    tracer_provider, meter_provider = _otel_providers()
    apps: list[tuple[str, WSGIApp]] = [
        (BARE, wsgi_hello),
        (FLOOR, FloorWSGI(wsgi_hello, CollectorRegistry())),
        (GATEWATCH, GatewatchWSGI(wsgi_hello, registry=CollectorRegistry())),
        (
            GATEWATCH_NO_CPU,
            GatewatchWSGI(wsgi_hello, registry=CollectorRegistry(), cpu_time=False),
        ),
        (
            GATEWATCH_SPANS,
            GatewatchWSGI(
                wsgi_hello,
                registry=CollectorRegistry(),
                otel=True,
                tracer_provider=tracer_provider,
                meter_provider=NoOpMeterProvider(),
            ),
        ),
        (
            GATEWATCH_OTEL,
            GatewatchWSGI(
                wsgi_hello,
                registry=CollectorRegistry(),
                otel=True,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
            ),
        ),
        (
            OTEL,
            OtelWSGI(wsgi_hello, tracer_provider=tracer_provider, meter_provider=meter_provider),
        ),
    ]
    return [wsgi_case(name, app) for name, app in apps]
