"""Bounded traffic that gives every panel and rule of gatewatch's boards data, against the example
Django project served twice: under uvicorn (ASGI, Channels WebSockets) and under gunicorn -w 2
(WSGI). Each function returns when its requests are done; nothing outlives it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

# Fast views of every kind (sync, async, class-based, a path parameter, a stream).
FAST_PATHS = ("/sync/", "/async/", "/items/7/", "/health/", "/stream/?chunks=3")


def http_mix(base_url: str, *, seconds: float, queue_header: bool) -> None:
    """Fast requests, 5xx, a loop block (ASGI) or a held worker (WSGI), and a client that leaves,
    repeated for about ``seconds`` so that every scrape in between sees counts rise."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        while time.monotonic() < deadline:
            headers = {"X-Request-Start": f"t={time.time() - 0.005:.3f}"} if queue_header else {}
            for path in FAST_PATHS:
                client.get(path, headers=headers).read()
            assert client.get("/error/", headers=headers).status_code == 500
            # Over the 50 ms block threshold: a loop block under ASGI.
            assert client.get("/blocking-async/?seconds=0.08", headers=headers).status_code == 200
            # Sync view: a worker held under WSGI, a thread under ASGI (offload).
            client.get("/slow-sync/?seconds=0.02", headers=headers).read()
            # A client that leaves before the answer: 499 and a disconnect.
            with contextlib.suppress(httpx.TimeoutException):
                client.get("/slow-async/?seconds=0.5", headers=headers, timeout=0.1)
            time.sleep(0.2)


def wsgi_burst(base_url: str, *, requests: int = 6, seconds: float = 0.4) -> None:
    """More slow requests at once than gunicorn has workers: they queue, the workers saturate."""

    def one(_: int) -> None:
        with httpx.Client(base_url=base_url, timeout=10.0) as client:
            headers = {"X-Request-Start": f"t={time.time():.3f}"}
            client.get(f"/slow-sync/?seconds={seconds}", headers=headers).read()

    with ThreadPoolExecutor(max_workers=requests) as pool:
        list(pool.map(one, range(requests)))


async def _websocket_sessions(ws_url: str, *, seconds: float) -> None:
    # Rounds spread over several scrapes: a labelled counter appears with its first session,
    # and Prometheus sees an increase only between two scrapes of it.
    deadline = time.monotonic() + seconds
    round_number = 0
    while time.monotonic() < deadline:
        round_number += 1
        # A normal session: text and binary both ways, the client closes (1000).
        async with connect(ws_url + "/ws/echo/") as session:
            await session.send("hello")
            assert await session.recv() == "hello"
            await session.send(b"\x00\x01\x02")
            assert await session.recv() == b"\x00\x01\x02"
        # The server closes with an application code.
        async with connect(ws_url + "/ws/echo/") as session:
            await session.send("close:4000")
            with contextlib.suppress(ConnectionClosed):
                await session.recv()
        # The consumer raises mid-session (int("boom")): server/1011 and a ValueError counted.
        async with connect(ws_url + "/ws/echo/") as session:
            await session.send("close:boom")
            with contextlib.suppress(ConnectionClosed):
                await session.recv()
        # A room broadcast.
        async with connect(ws_url + f"/ws/broadcast/room{round_number}/") as session:
            await session.send("to the room")
            assert await session.recv() == "to the room"
        await asyncio.sleep(1.0)


def websocket_sessions(base_url: str, *, seconds: float) -> None:
    """Sessions that close every way, round after round for about ``seconds``."""
    asyncio.run(_websocket_sessions(base_url.replace("http://", "ws://", 1), seconds=seconds))
