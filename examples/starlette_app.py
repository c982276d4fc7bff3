"""A Starlette app with one endpoint per behaviour gatewatch shows.

Run it bare (``:app``) or wrapped (``:wrapped``)::

    uvicorn gatewatch.demo.apps.starlette_app:wrapped --port 8001   # installed
    uvicorn examples.starlette_app:wrapped --port 8001              # from a checkout
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gatewatch import GatewatchASGI

LARGE_BODY = b"x" * (1024 * 1024)


async def fast(request: Request) -> Response:
    return PlainTextResponse("fast\n")


async def slow(request: Request) -> Response:
    # Awaits: the request takes long, the event loop stays free for others. (anyio, so
    # the example runs on trio under hypercorn too.)
    await anyio.sleep(float(request.query_params.get("seconds", "0.05")))
    return PlainTextResponse("slow\n")


async def blocking(request: Request) -> Response:
    # The mistake gatewatch exists to show: a synchronous sleep holds the whole loop.
    time.sleep(float(request.query_params.get("seconds", "0.05")))
    return PlainTextResponse("blocking\n")


async def background_block(request: Request) -> Response:
    # A background task that blocks the loop after the response: no request is running
    # when it does, so gatewatch attributes the block to <background>. (asyncio only.)
    seconds = float(request.query_params.get("seconds", "0.1"))
    task = asyncio.get_running_loop().create_task(_block_soon(seconds))
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)
    return PlainTextResponse("scheduled\n")


_background_tasks: set[asyncio.Task[None]] = set()


async def _block_soon(seconds: float) -> None:
    await asyncio.sleep(0.01)
    time.sleep(seconds)


async def stream(request: Request) -> Response:
    chunks = int(request.query_params.get("chunks", "5"))
    delay = float(request.query_params.get("delay", "0.01"))

    async def body() -> AsyncIterator[bytes]:
        for index in range(chunks):
            await anyio.sleep(delay)
            yield f"chunk {index}\n".encode()

    return StreamingResponse(body(), media_type="text/plain")


async def error(request: Request) -> Response:
    raise RuntimeError("this endpoint always fails")


async def large(request: Request) -> Response:
    return Response(LARGE_BODY, media_type="application/octet-stream")


async def item(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["item_id"]})


async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type="application/octet-stream")


async def ws_echo(websocket: WebSocket) -> None:
    """Echo every message back as it came (text or binary).

    The text ``close:CODE`` makes the server close with that code; ``boom`` raises.
    """
    await websocket.accept(subprotocol=_pick_subprotocol(websocket), headers=[(b"x-echo", b"1")])
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is not None:
                if text.startswith("close:"):
                    await websocket.close(code=int(text.split(":", 1)[1]))
                    return
                if text == "boom":
                    raise RuntimeError("the consumer failed mid-session")
                await websocket.send_text(text)
            else:
                await websocket.send_bytes(message.get("bytes") or b"")
    except WebSocketDisconnect:
        return


def _pick_subprotocol(websocket: WebSocket) -> str | None:
    offered = websocket.scope.get("subprotocols") or []
    return "echo.v1" if "echo.v1" in offered else None


async def ws_reject(websocket: WebSocket) -> None:
    # Closing before accepting refuses the handshake: the client gets HTTP 403.
    await websocket.close(code=1008)


async def ws_blocking(websocket: WebSocket) -> None:
    # A consumer that holds the loop on every message, stalling every other session.
    await websocket.accept()
    try:
        async for text in websocket.iter_text():
            time.sleep(0.01)
            await websocket.send_text(text)
    except WebSocketDisconnect:
        return


routes = [
    Route("/fast", fast),
    Route("/slow", slow),
    Route("/blocking", blocking),
    Route("/background-block", background_block),
    Route("/stream", stream),
    Route("/error", error),
    Route("/large", large),
    Route("/items/{item_id:int}", item),
    Route("/echo", echo, methods=["POST", "PUT"]),
    WebSocketRoute("/ws/echo", ws_echo),
    WebSocketRoute("/ws/reject", ws_reject),
    WebSocketRoute("/ws/blocking", ws_blocking),
]

app = Starlette(routes=routes)
wrapped = GatewatchASGI(app, metrics_path="/metrics")
