"""An ASGI app for killing a worker mid-request: ``/pid`` names the worker that answers, and
``/hold`` streams that pid and then holds the response open until the client leaves."""

from __future__ import annotations

import asyncio
import os

from gatewatch import GatewatchASGI, set_route
from gatewatch.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    set_route(path if path in ("/pid", "/hold") else "<unmatched>")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if path != "/hold":
        await send({"type": "http.response.body", "body": f"{os.getpid()}\n".encode()})
        return
    await send({"type": "http.response.body", "body": f"{os.getpid()}\n".encode(), "more_body": True})
    # Until the client leaves, or the worker is killed.
    while (await receive())["type"] != "http.disconnect":
        await asyncio.sleep(0)


wrapped = GatewatchASGI(app, metrics_path="/metrics")
