"""The OpenTelemetry tests' Starlette app and their readings of spans and OpenMetrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry import trace
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from gatewatch.types import Scope
from tests.support.asgi_driver import Exchange, serve
from tests.support.django_support import django_registry
from tests.support.otel import Otel

__all__ = ["django_registry"]


TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"
DURATION = "http.server.request.duration"
SEMCONV_BOUNDARIES = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


app_tracer: list[trace.Tracer] = []


async def item(request: Request) -> Response:
    with app_tracer[0].start_as_current_span("load item"):
        return PlainTextResponse(f"item {request.path_params['item_id']}\n")


def sync_item(request: Request) -> Response:
    # Run by Starlette in a worker thread: the context (and the span) go with it.
    with app_tracer[0].start_as_current_span("sync work"):
        return PlainTextResponse("sync\n")


async def failing_response(request: Request) -> Response:
    return PlainTextResponse("down\n", status_code=503)


async def raising(request: Request) -> Response:
    raise RuntimeError("boom")


async def stream(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"chunk\n"
            await asyncio.sleep(0)

    return StreamingResponse(body())


def starlette_app(otel: Otel) -> Starlette:
    app_tracer[:] = [otel.tracer_provider.get_tracer("tests.app")]
    return Starlette(
        routes=[
            Route("/items/{item_id:int}", item),
            Route("/sync", sync_item),
            Route("/unavailable", failing_response),
            Route("/raise", raising),
            Route("/stream", stream),
        ]
    )


def serve_all(app: Any, *scopes: Scope) -> list[Exchange]:
    async def main() -> list[Exchange]:
        return [await serve(app, scope) for scope in scopes]

    return asyncio.run(main())


def openmetrics(registry: CollectorRegistry) -> str:
    """The OpenMetrics exposition (exemplars are in it, not in the classic text format)."""
    from prometheus_client.openmetrics.exposition import generate_latest

    text: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
    return text.decode()


def openmetrics_families(text: str) -> list[Any]:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    return list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]


def parent_id(span: Any) -> int | None:
    return None if span.parent is None else int(span.parent.span_id)


def only(spans: list[Any]) -> Any:
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]
