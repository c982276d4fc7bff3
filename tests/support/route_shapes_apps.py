"""Apps with every Starlette and FastAPI router shape, for the route-label tests under uvicorn.

``starlette_app`` and ``fastapi_app`` are wrapped with OpenTelemetry on, spans kept in memory
and listed at ``/_spans``. A request with ``?hold`` waits until ``/release`` is called, so that
a test can read the live view while requests are in flight.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Host, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from gatewatch import GatewatchASGI

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

STATIC = Path(__file__).parent

_released: asyncio.Event | None = None


def _release_event() -> asyncio.Event:
    global _released
    if _released is None:
        _released = asyncio.Event()
    return _released


async def ok(request: Request) -> Response:
    if "hold" in request.query_params:
        await _release_event().wait()
    return PlainTextResponse("ok")


async def release(request: Request) -> Response:
    _release_event().set()
    return PlainTextResponse("released")


async def spans(request: Request) -> Response:
    finished = exporter.get_finished_spans()
    return JSONResponse(
        [{"name": span.name, "route": (span.attributes or {}).get("http.route")} for span in finished]
    )


own_routes = [Route("/release", release), Route("/_spans", spans)]
shared = Router([Route("/items", ok)])
sub_app = Starlette(routes=[Route("/r/{z}", ok)])

starlette_app = GatewatchASGI(
    Starlette(
        routes=[
            *own_routes,
            Mount("/t/{tenant}", routes=[Route("/items", ok)]),
            Mount("/n/{a}", routes=[Mount("/m/{b:int}", routes=[Route("/leaf/{c}", ok)])]),
            # One router under two mounts: each request is named by the mount it came through.
            Mount("/a", app=shared),
            Mount("/b/{x}", app=shared),
            Mount("/static", app=StaticFiles(directory=STATIC)),
            Mount("/sub/{k}", app=CORSMiddleware(sub_app, allow_origins=["*"])),
            Host("{sub}.example.com", app=Router([Route("/home", ok)])),
        ]
    ),
    otel=True,
    metrics_path="/metrics",
    max_routes=20,
)


tenant_router = APIRouter()


@tenant_router.get("/items")
async def tenant_items(hold: str | None = None) -> dict[str, str]:
    if hold is not None:
        await _release_event().wait()
    return {"ok": "yes"}


tenant_router.add_route("/plain", ok)
tenant_router.mount("/m", app=Router([Route("/q", ok)]))
deeper = APIRouter()


@deeper.get("/x")
async def deeper_x() -> dict[str, str]:
    return {"ok": "yes"}


tenant_router.include_router(deeper, prefix="/d/{d}")
sub_fastapi = FastAPI()


@sub_fastapi.get("/s/{q}")
async def sub_s(q: str) -> dict[str, str]:
    return {"q": q}


_fastapi = FastAPI(routes=list(own_routes))
_fastapi.include_router(tenant_router, prefix="/t/{tenant}")
_fastapi.include_router(tenant_router, prefix="/u")
_fastapi.mount("/sub/{k}", sub_fastapi)
fastapi_app = GatewatchASGI(_fastapi, otel=True, metrics_path="/metrics", max_routes=20)
