"""Apps for the OTLP round trip under real servers (uvicorn: ``asgi_app`` and ``fastapi_app``,
gunicorn: ``wsgi_app``).

The SDK is configured here, when the server imports the module: under gunicorn that is in
each worker after the fork (no ``--preload``), so every worker has providers of its own. The
standard ``OTEL_*`` variables (endpoint, service name, export intervals, sampler) configure the
exporters, as in any deployment; ``service.instance.id`` tells the workers apart.
"""

from __future__ import annotations

import os
import socket
import time

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.types import Environ, StartResponse

resource = Resource.create({"service.instance.id": f"{socket.gethostname()}-{os.getpid()}"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tracer_provider)
metrics.set_meter_provider(
    MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
)
tracer = trace.get_tracer("tests.otel_server_app")


async def item(request: Request) -> Response:
    with tracer.start_as_current_span("load item"):
        return PlainTextResponse(f"item {request.path_params['item_id']}\n")


# The global providers: otel=True and nothing else.
asgi_app = GatewatchASGI(Starlette(routes=[Route("/items/{item_id:int}", item)]), otel=True)


# FastAPI traces itself once a provider is configured (here, the global ones): its own SERVER
# span, operation spans, and two of the HTTP instruments gatewatch exports too (issue 26).
fastapi = FastAPI()


@fastapi.get("/items/{item_id}")
async def fastapi_item(item_id: int) -> dict[str, int]:
    with tracer.start_as_current_span("load item"):
        return {"item": item_id}


@fastapi.get("/fails")
async def fastapi_fails() -> None:
    raise RuntimeError("fails")


fastapi_app = GatewatchASGI(fastapi, otel=True)


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    with tracer.start_as_current_span("wsgi work"):
        # Long enough that requests sent at once need both workers.
        time.sleep(0.02)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello\n"]


# Switched on by GATEWATCH_OTEL=true in the environment, as a deployer would.
wsgi_app = GatewatchWSGI(hello)
