"""A Starlette app whose module imports uvicorn (to run itself, as many do), for serving under
other servers: gatewatch_info must name the server that serves it, not what it imports."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gatewatch import GatewatchASGI


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


app = Starlette(routes=[Route("/hello", hello)])
wrapped = GatewatchASGI(app, metrics_path="/metrics")

if __name__ == "__main__":
    uvicorn.run(wrapped)
