"""Raw ASGI apps for the real-server edge cases of ``tests/asgi/test_asgi_client_gone.py``.

``app`` serves every one of them, chosen by the last path segment, in one server process:
bare under ``/bare/...``; wrapped by :class:`~gatewatch.GatewatchASGI` (fresh registry,
``/metrics``) elsewhere; and under ``/outer/...`` wrapped too, but behind an outer middleware
that wraps ``send`` in a closure (as many middlewares do), hiding the server's own ``send``
from gatewatch. The router hands the server's ``scope``, ``receive`` and ``send`` through
untouched otherwise and returns what the app returns, so gatewatch sees exactly what it sees
when it wraps an app directly. Each wrapped app names its route after its path.

None of the HTTP apps ever calls ``receive()``: a client leaving shows up only in what the
server does with their ``send``\\ s. Each notes what it saw (how many sends returned, what
raised, what it returned) for ``/bare/observed``, so a test can check that wrapping changed
nothing the app sees.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, set_route
from gatewatch.types import Message, Receive, Scope, Send, WrappedASGIApp
from tests.support.otel import held

STREAM_CHUNKS = 20
STREAM_DELAY = 0.05  # seconds between chunks: the stream lasts about a second
SLOW_SECONDS = 0.5  # how long /slow thinks before it answers
RETURNED = "done"  # what /returns returns (uvicorn then closes the connection)

# Path of the request -> what the app saw the last time it served that path.
OBSERVED: dict[str, dict[str, Any]] = {}


def text_start(length: int | None = None) -> dict[str, Any]:
    headers = [(b"content-type", b"text/plain")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


async def noted_send(send: Send, message: dict[str, Any], seen: dict[str, Any]) -> None:
    try:
        await send(message)
    except BaseException as exc:
        seen["raised"] = type(exc).__name__
        raise
    seen["sends"] += 1


async def returns_value(scope: Scope, receive: Receive, send: Send) -> str:
    """A complete response, then a non-None return value (a buggy app, or ASGI 2 leftovers)."""
    set_route(scope["path"])
    seen = OBSERVED.setdefault(scope["path"], {"runs": 0})
    seen["runs"] += 1
    await send(text_start(6))
    await send({"type": "http.response.body", "body": b"first\n"})
    return RETURNED


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    """A chunked stream of about a second that never looks at ``receive``."""
    set_route(scope["path"])
    seen: dict[str, Any] = {"sends": 0, "raised": None, "finished": False}
    OBSERVED[scope["path"]] = seen
    await noted_send(send, text_start(), seen)
    for number in range(STREAM_CHUNKS):
        await noted_send(
            send,
            {"type": "http.response.body", "body": f"chunk {number}\n".encode(), "more_body": True},
            seen,
        )
        await anyio.sleep(STREAM_DELAY)
    await noted_send(send, {"type": "http.response.body", "body": b"end\n"}, seen)
    seen["finished"] = True


async def slow(scope: Scope, receive: Receive, send: Send) -> None:
    """Thinks for a while, then answers in one go (start and a single final body); never reads
    the request body either."""
    set_route(scope["path"])
    seen: dict[str, Any] = {"sends": 0, "raised": None, "finished": False}
    OBSERVED[scope["path"]] = seen
    await anyio.sleep(SLOW_SECONDS)
    await noted_send(send, text_start(5), seen)
    await noted_send(send, {"type": "http.response.body", "body": b"slow\n"}, seen)
    seen["finished"] = True


async def raises(scope: Scope, receive: Receive, send: Send) -> None:
    """A whole 500, then the exception raised on to the server: what Starlette's
    ServerErrorMiddleware does with an unhandled exception (uvicorn then closes the connection)."""
    set_route(scope["path"])
    await send(text_start(6) | {"status": 500})
    await send({"type": "http.response.body", "body": b"error\n"})
    raise RuntimeError("raised after the 500")


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send(text_start(6))
    await send({"type": "http.response.body", "body": b"hello\n"})


async def observed(scope: Scope, receive: Receive, send: Send) -> None:
    body = json.dumps(OBSERVED).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def exported(scope: Scope, receive: Receive, send: Send) -> None:
    """The spans the ``/spans/...`` side exported: name, status and event names of each."""
    spans = [
        {
            "name": span.name,
            "status": span.status.status_code.name,
            "events": [event.name for event in span.events],
        }
        for span in OTEL.spans()
    ]
    body = json.dumps(spans).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


APPS: dict[str, WrappedASGIApp] = {
    "returns": returns_value,
    "stream": stream,
    "slow": slow,
    "hello": hello,
    "raises": raises,
    "observed": observed,
    "exported": exported,
}


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def by_last_segment(scope: Scope, receive: Receive, send: Send) -> Any:
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    target = APPS.get(scope["path"].rsplit("/", 1)[-1], hello)
    return await target(scope, receive, send)


wrapped = GatewatchASGI(
    by_last_segment, registry=CollectorRegistry(), metrics_path="/metrics", live_path=None
)
_hold = os.environ.get("GATEWATCH_TEST_HOLD")
OTEL = held(Path(_hold) if _hold else None)
spans = GatewatchASGI(
    by_last_segment, registry=CollectorRegistry(), metrics_path=None, live_path=None, **OTEL.options
)


async def app(scope: Scope, receive: Receive, send: Send) -> Any:
    if scope["type"] == "http" and scope["path"].startswith("/bare/"):
        return await by_last_segment(scope, receive, send)
    if scope["type"] == "http" and scope["path"].startswith("/spans/"):
        return await spans(scope, receive, send)
    if scope["type"] == "http" and scope["path"].startswith("/outer/"):

        async def outer_send(message: Message) -> None:
            await send(message)

        return await wrapped(scope, receive, outer_send)
    return await wrapped(scope, receive, send)
