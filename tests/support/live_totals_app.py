"""The Starlette example's routes and one more whose route label is shaped like markup and
terminal controls: the app the live view's totals are compared with ``/metrics`` under."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from examples.starlette_app import routes
from gatewatch import GatewatchASGI, set_route

HOSTILE_ROUTE = "/[bold]x[/][@click=app.quit]\x1b[2J"


async def hostile(request: Request) -> Response:
    set_route(HOSTILE_ROUTE)
    return PlainTextResponse("ok\n", status_code=int(request.query_params.get("status", "200")))


app = Starlette(routes=[*routes, Route("/hostile", hostile)])
# A registry of its own: the test process imports this module too (for HOSTILE_ROUTE).
asgi = GatewatchASGI(app, metrics_path="/metrics", registry=CollectorRegistry())
