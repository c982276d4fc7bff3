"""Under real servers: what the app returns reaches the server, and a client that leaves an app
which never calls ``receive()`` is recorded as 499 where the server lets gatewatch know (issue 16).

``tests.support.asgi_edge_apps:app`` runs under uvicorn (``--http h11`` and ``--http httptools``) and
hypercorn (asyncio and trio workers) on 127.0.0.1. Raw-socket clients talk to each app bare
(``/bare/...``) and wrapped (and wrapped with OpenTelemetry spans on, ``/spans/...``, issue 26),
and the tests compare, byte for byte, what the clients got and what
the apps saw (every ``send`` returned, nothing raised, the app ran to its end), then read
``/metrics``.

None of these servers raises ``OSError`` from an HTTP ``send`` to a gone client (ASGI 2.4): they
drop it silently, so gatewatch reads the state of the server's per-request object behind ``send``
(uvicorn's ``cycle.disconnected``, hypercorn's ``stream.closed``) before the final body message.
What gatewatch sees, per case (the client leaves; the app never calls ``receive()``):

==============================================  ==============  ==============  ==============
case                                            uvicorn h11     uvicorn         hypercorn
                                                                httptools       asyncio, trio
==============================================  ==============  ==============  ==============
leaves a chunked stream after its first chunk   499             499             499
leaves before a slow one-shot answer            499             499             499
same, ``send`` wrapped by an outer middleware   200 (hidden)    200 (hidden)    200 (hidden)
leaves with a 200 KB request body unread        200 (unseen)    200 (unseen)    499
==============================================  ==============  ==============  ==============

*hidden*: a middleware outside gatewatch replaced the server's ``send`` with its own; gatewatch
cannot reach the server's state (wrap outermost). *unseen*: uvicorn stops reading a connection
whose unread request body passes 64 KiB (flow control), so it never reads the client's close:
the response goes out into a dead socket and even uvicorn believes it was delivered.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatewatch.demo.servers import LOOPBACK, ServerProcess, free_port, hypercorn_command, uvicorn_command
from tests.support.asgi_edge_apps import SLOW_SECONDS, STREAM_CHUNKS
from tests.support.scrape import value
from tests.support.traffic import DURATION_COUNT, ROOT, in_flight_values, scrape_until

pytestmark = pytest.mark.slow

APP = "tests.support.asgi_edge_apps:app"
READY = "/bare/hello"
DISCONNECTS = "gatewatch_http_disconnects_total"
EXCEPTIONS = "gatewatch_http_exceptions_total"
TIMEOUT = 5.0  # seconds for any one client operation
LEAVE_AFTER = 0.1  # seconds a client waits for a slow answer before leaving
UPLOAD = b"x" * 200_000  # past uvicorn's 64 KiB read-ahead
RETURNED_LOG = "ASGI callable should return None, but returned 'done'."


@dataclass(frozen=True)
class Server:
    name: str
    command: Callable[[str, int], list[str]]
    # What gatewatch records for a client that leaves with its request body unread (see above).
    upload_status: str


SERVERS = [
    Server("uvicorn-h11", lambda app, port: uvicorn_command(app, port, "--http", "h11"), "200"),
    Server("uvicorn-httptools", lambda app, port: uvicorn_command(app, port, "--http", "httptools"), "200"),
    Server("hypercorn", lambda app, port: hypercorn_command(app, port), "499"),
    Server("hypercorn-trio", lambda app, port: hypercorn_command(app, port, "--worker-class", "trio"), "499"),
]


def without_dates(data: bytes) -> bytes:
    """Responses of the same second or not: the Date header is the one byte-level difference."""
    return re.sub(rb"(?im)^date: [^\r\n]*\r\n", b"", data)


def get(path: str, port: int) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n\r\n".encode()


async def read_until_closed(port: int, request: bytes, quiet: float = 1.0) -> tuple[bytes, bool]:
    """Send ``request``; read until the server closes (True) or stays quiet for ``quiet`` s (False)."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    received = b""
    try:
        writer.write(request)
        await writer.drain()
        while True:
            try:
                part = await asyncio.wait_for(reader.read(65536), timeout=quiet)
            except TimeoutError:
                return received, False
            if not part:
                return received, True
            received += part
    finally:
        writer.close()


async def leave_after_first_chunk(port: int, path: str) -> bytes:
    """Ask for the stream, read up to its first chunk, then close the connection."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    received = b""
    try:
        writer.write(get(path, port))
        await writer.drain()
        while b"chunk 0\n" not in received:
            part = await asyncio.wait_for(reader.read(4096), timeout=TIMEOUT)
            assert part, f"{path}: the server closed before the first chunk: {received!r}"
            received += part
    finally:
        writer.close()
    return received[: received.index(b"chunk 0\n") + len(b"chunk 0\n")]


async def leave_after(port: int, request: bytes, seconds: float) -> bytes:
    """Send ``request``, take whatever arrives within ``seconds``, then close the connection."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    received = b""
    try:
        writer.write(request)
        await asyncio.wait_for(writer.drain(), timeout=TIMEOUT)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                part = await asyncio.wait_for(reader.read(65536), timeout=left)
            except TimeoutError:
                break
            if not part:
                break
            received += part
    finally:
        writer.close()
    return received


def upload(path: str, port: int) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nContent-Length: {len(UPLOAD)}\r\n\r\n"
    return head.encode() + UPLOAD


# path -> what its client got before leaving
Received = dict[str, bytes]
STREAMS = ["/bare/stream", "/stream", "/outer/stream", "/spans/stream"]
SLOWS = ["/bare/slow", "/slow", "/outer/slow", "/spans/slow"]
UPLOADS = ["/bare/upload/slow", "/upload/slow"]


async def leave_every_way(port: int) -> Received:
    """Every leaving client at once, bare and wrapped side by side."""
    calls: dict[str, Any] = {}
    for path in STREAMS:
        calls[path] = leave_after_first_chunk(port, path)
    for path in SLOWS:
        calls[path] = leave_after(port, get(path, port), LEAVE_AFTER)
    for path in UPLOADS:
        calls[path] = leave_after(port, upload(path, port), LEAVE_AFTER)
    results = await asyncio.gather(*calls.values())
    return dict(zip(calls, results, strict=True))


def observed_when_done(base_url: str, paths: list[str], timeout: float = 10.0) -> dict[str, Any]:
    """What every app saw, once each of ``paths`` ran to its end (they outlive their clients)."""
    deadline = time.monotonic() + timeout
    while True:
        seen: dict[str, Any] = httpx.get(base_url + "/bare/observed", timeout=TIMEOUT).json()
        if all(seen.get(path, {}).get("finished") for path in paths) or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def statuses(text: str, route: str) -> dict[str, int]:
    """Requests recorded for ``route``, by status label."""
    return {
        status: int(count)
        for status in ("200", "499", "500")
        if (count := value(text, DURATION_COUNT, route=route, status=status))
    }


def log_of(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return "<no log>"


@pytest.mark.parametrize("server", SERVERS, ids=[server.name for server in SERVERS])
def test_client_leaving_an_app_that_never_receives(server: Server, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "server.log"
    with ServerProcess(
        server.command(APP, port), port=port, ready_path=READY, cwd=ROOT, log_path=log_path
    ) as running:
        received = asyncio.run(leave_every_way(port))
        seen = observed_when_done(running.base_url, STREAMS + SLOWS + UPLOADS)

        def settled(text: str) -> bool:
            return value(text, DURATION_COUNT) == 5 and not any(in_flight_values(text))

        text = scrape_until(running.base_url, settled)
    log = log_of(log_path)[-3000:]

    # What the clients got is the same, bare or wrapped: the headers and the first chunk of the
    # stream; nothing of the slow answers, which come after the clients left.
    assert received["/bare/stream"].startswith(b"HTTP/1.1 200 "), received
    streamed = {without_dates(received[path]) for path in STREAMS}
    assert len(streamed) == 1, received
    assert all(received[path] == b"" for path in SLOWS + UPLOADS), received

    # What the apps saw is the same too: every send returned (the server dropped the messages
    # silently), nothing raised, each ran to its end.
    for paths, sends in ((STREAMS, STREAM_CHUNKS + 2), (SLOWS + UPLOADS, 2)):
        for path in paths:
            assert seen.get(path) == {"sends": sends, "raised": None, "finished": True}, (path, seen, log)

    # What gatewatch recorded.
    assert statuses(text, "/stream") == {"499": 1}, (text, log)
    assert statuses(text, "/slow") == {"499": 1}, (text, log)
    assert value(text, DISCONNECTS, route="/stream") == 1
    assert value(text, DISCONNECTS, route="/slow") == 1
    # The slow app answered SLOW_SECONDS after arriving: its record ends when the app returns
    # (timers may wake a little early).
    assert value(text, "gatewatch_http_request_duration_seconds_sum", route="/slow") >= SLOW_SECONDS * 0.9
    # Hidden: an outer middleware's send stands between gatewatch and the server.
    assert statuses(text, "/outer/stream") == {"200": 1}, text
    assert statuses(text, "/outer/slow") == {"200": 1}, text
    # Unseen under uvicorn: it stopped reading the connection, so it never saw the close.
    assert statuses(text, "/upload/slow") == {server.upload_status: 1}, (text, log)
    assert value(text, EXCEPTIONS) == 0
    assert "Exception in ASGI application" not in log and "Error in ASGI Framework" not in log, log


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_a_returned_value_reaches_uvicorn(http: str, tmp_path: Path) -> None:
    """uvicorn closes the connection when the app returns a value other than None, dropping
    pipelined requests; wrapped, the app's value must reach uvicorn the same way."""
    port = free_port()
    log_path = tmp_path / "server.log"
    command = uvicorn_command(APP, port, "--http", http)
    with ServerProcess(command, port=port, ready_path=READY, cwd=ROOT, log_path=log_path) as running:

        async def all_three() -> list[tuple[bytes, bool]]:
            return await asyncio.gather(
                *(
                    read_until_closed(port, get(path, port) * 2)
                    for path in ("/bare/returns", "/returns", "/spans/returns")
                )
            )

        (bare, bare_closed), (wrapped, wrapped_closed), (spans, spans_closed) = asyncio.run(all_three())
        seen = httpx.get(running.base_url + "/bare/observed", timeout=TIMEOUT).json()
        runs = seen["/returns"]["runs"]
        text = scrape_until(running.base_url, lambda text: value(text, DURATION_COUNT) == runs)
    log = log_of(log_path)

    assert bare_closed and wrapped_closed and spans_closed, (bare, wrapped, spans)
    assert bare.count(b"HTTP/1.1 ") == 1, bare  # the second pipelined request got no answer
    assert without_dates(wrapped) == without_dates(bare)
    assert without_dates(spans) == without_dates(bare)  # spans on too (issue 26)
    assert runs == seen["/bare/returns"]["runs"] == seen["/spans/returns"]["runs"], seen
    # Every run's value reached uvicorn, bare or wrapped.
    assert log.count(RETURNED_LOG) == 3 * runs, log
    assert statuses(text, "/returns") == {"200": runs}, text


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_spans_on_leave_the_close_after_an_exception_to_uvicorn(http: str, tmp_path: Path) -> None:
    """Issue 26: an app that answers 500 and raises (Starlette's ServerErrorMiddleware) gets its
    connection closed by uvicorn at once; with spans on, ending the span ran first, and a
    keep-alive client sent its next request into the connection meanwhile. Here the exporter
    is held (a slow collector behind a SimpleSpanProcessor) until the client has seen the close:
    bare and with spans on, the client gets the same bytes and then the close, without waiting
    for the export; once released, the span is exported whole."""
    port = free_port()
    hold = tmp_path / "hold"
    command = uvicorn_command(APP, port, "--http", http)
    env = {"GATEWATCH_TEST_HOLD": str(hold)}
    with ServerProcess(command, port=port, ready_path=READY, cwd=ROOT, env=env) as running:
        # One request on a keep-alive connection: a client that would send its next one on it
        # once it has the 500 (a pipelined one would run before the close, and end its span).
        bare, bare_closed = asyncio.run(read_until_closed(port, get("/bare/raises", port), quiet=TIMEOUT))
        hold.touch()
        try:
            spans, spans_closed = asyncio.run(
                read_until_closed(port, get("/spans/raises", port), quiet=TIMEOUT)
            )
        finally:
            hold.unlink()
        deadline = time.monotonic() + 10.0
        while True:
            exported = httpx.get(running.base_url + "/bare/exported", timeout=TIMEOUT).json()
            if exported or time.monotonic() > deadline:
                break
            time.sleep(0.05)

    # A 500, then the close.
    assert bare_closed, bare
    assert bare.startswith(b"HTTP/1.1 500 "), bare
    # The same with spans on, while the span's export was still held.
    assert spans_closed, spans
    assert without_dates(spans) == without_dates(bare)
    assert exported == [{"name": "GET /spans/raises", "status": "ERROR", "events": ["exception"]}]
