"""End to end under a real uvicorn (and the same traffic in process): exact accounting per route.

The Starlette example app runs wrapped by ``GatewatchASGI`` (``examples.starlette_app:wrapped``)
on 127.0.0.1; every number on ``/metrics`` is checked against the traffic the test sent, including
the ready probe of :class:`~gatewatch.demo.servers.ServerProcess` (one ``GET /fast``).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import GatewatchASGI
from gatewatch.demo.servers import LOOPBACK, ServerProcess, free_port, uvicorn_command
from tests.support.scrape import value
from tests.support.traffic import (
    DURATION_COUNT,
    IN_FLIGHT,
    ROOT,
    Call,
    duration_counts,
    in_flight_values,
    scrape_until,
)

pytestmark = pytest.mark.slow

APP = "examples.starlette_app:wrapped"
MIB = 1024 * 1024
ECHO_BODY = bytes(range(256)) * 4 + b"gatewatch e2e"  # 1037 bytes, every byte value
DISCONNECTS = "gatewatch_http_disconnects_total"
EXCEPTIONS = "gatewatch_http_exceptions_total"
REQUEST_BYTES = "gatewatch_http_request_body_bytes_total"
RESPONSE_BYTES = "gatewatch_http_response_body_bytes_total"
STREAM_ROUTE = "/stream"
ITEM_ROUTE = "/items/{item_id:int}"
# A disconnecting client asks for a long stream (50 chunks, 2.5 s) and leaves after the first.
LONG_STREAM = "/stream?chunks=50&delay=0.05"
DISCONNECTS_SENT = 5
CONCURRENCY = 8


def traffic_mix(seed: int = 20240611) -> list[Call]:
    """115 requests over every kind of endpoint, shuffled reproducibly (~10 % errors)."""
    calls: list[Call] = []
    calls += [Call("GET", "/fast", "/fast", 200)] * 20
    calls += [Call("GET", f"/items/{n}", ITEM_ROUTE, 200) for n in range(20)]
    calls += [Call("GET", "/slow?seconds=0.01", "/slow", 200)] * 15
    calls += [Call("GET", "/stream?chunks=5&delay=0.01", STREAM_ROUTE, 200)] * 15
    calls += [Call("GET", "/error", "/error", 500)] * 12
    calls += [Call("GET", "/large", "/large", 200)] * 8
    calls += [Call("POST", "/echo", "/echo", 200, ECHO_BODY)] * 15
    calls += [Call("GET", "/nope", "<unmatched>", 404)] * 10
    random.Random(seed).shuffle(calls)
    return calls


def count_of(calls: list[Call], path: str) -> int:
    return sum(1 for call in calls if call.path == path)


async def send_all(client: httpx.AsyncClient, calls: list[Call]) -> None:
    """Send ``calls`` at most ``CONCURRENCY`` at a time; check every answer on the way."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Call) -> None:
        # uvicorn closes the connection after an app exception, even once the response is
        # complete; a keep-alive client racing that close would fail the next request on it.
        headers = {"connection": "close"} if call.status == 500 else None
        async with semaphore:
            response = await client.request(
                call.method, call.path, content=call.body or None, headers=headers
            )
        assert response.status_code == call.status, (call, response.text[:200])
        if call.route == "/large":
            assert len(response.content) == MIB
        elif call.route == "/echo":
            assert response.content == ECHO_BODY
        elif call.route == STREAM_ROUTE:
            assert response.content == b"".join(f"chunk {i}\n".encode() for i in range(5))

    await asyncio.gather(*(one(call) for call in calls))


async def disconnect_mid_stream(port: int) -> None:
    """Ask for a long stream, read its first chunk, then close the connection."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(f"GET {LONG_STREAM} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n\r\n".encode())
        await writer.drain()
        received = b""
        while b"chunk 0\n" not in received:
            part = await asyncio.wait_for(reader.read(4096), timeout=5.0)
            assert part, f"server closed before the first chunk: {received!r}"
            received += part
        assert received.startswith(b"HTTP/1.1 200 "), received
    finally:
        writer.close()
        await writer.wait_closed()


def assert_mix_accounted(text_or_registry: str | CollectorRegistry, calls: list[Call]) -> None:
    """Exceptions and body bytes of the mix, exactly (duration counts are checked by the caller)."""
    errors = count_of(calls, "/error")
    assert value(text_or_registry, EXCEPTIONS, exception="RuntimeError", route="/error") == errors
    assert value(text_or_registry, EXCEPTIONS) == errors  # nothing else raised, disconnects included
    large = count_of(calls, "/large")
    assert value(text_or_registry, RESPONSE_BYTES, route="/large", method="GET") == large * MIB
    echoes = count_of(calls, "/echo")
    assert value(text_or_registry, REQUEST_BYTES, route="/echo", method="POST") == echoes * len(ECHO_BODY)
    assert value(text_or_registry, RESPONSE_BYTES, route="/echo", method="POST") == echoes * len(ECHO_BODY)
    # No other request carried a body.
    assert value(text_or_registry, REQUEST_BYTES) == echoes * len(ECHO_BODY)


def test_uvicorn_mixed_traffic_exact_counts(tmp_path: Path) -> None:
    calls = traffic_mix()
    port = free_port()
    command = uvicorn_command(APP, port)
    with ServerProcess(
        command, port=port, ready_path="/fast", cwd=ROOT, log_path=tmp_path / "uvicorn.log"
    ) as server:

        async def drive() -> None:
            limits = httpx.Limits(max_connections=CONCURRENCY)
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0, limits=limits) as client:
                await asyncio.gather(
                    send_all(client, calls),
                    *(disconnect_mid_stream(port) for _ in range(DISCONNECTS_SENT)),
                )

        asyncio.run(drive())

        expected = Counter(call.key for call in calls)
        expected[("GET", "/fast", "200")] += 1  # ServerProcess's ready probe
        expected[("GET", STREAM_ROUTE, "499")] += DISCONNECTS_SENT

        def settled(text: str) -> bool:
            return duration_counts(text, "asgi") == dict(expected) and not any(in_flight_values(text))

        text = scrape_until(server.base_url, settled)

    assert duration_counts(text, "asgi") == dict(expected)
    assert value(text, DURATION_COUNT) == len(calls) + 1 + DISCONNECTS_SENT  # and nothing else
    assert value(text, DISCONNECTS, interface="asgi", route=STREAM_ROUTE) == DISCONNECTS_SENT
    assert value(text, DISCONNECTS) == DISCONNECTS_SENT
    assert_mix_accounted(text, calls)
    assert in_flight_values(text)  # the gauge is exported ...
    assert not any(in_flight_values(text))  # ... and every series is back to 0
    assert value(text, "gatewatch_info", interface="asgi", server="uvicorn") == 1
    assert value(text, "gatewatch_internal_errors_total") == 0


def test_asgi_transport_in_process_exact_counts(registry: CollectorRegistry) -> None:
    # Imported here, not at collection: importing the example also wraps it on the global registry.
    import examples.starlette_app

    calls = traffic_mix(seed=7)
    app = GatewatchASGI(examples.starlette_app.app, registry=registry)

    async def drive() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await send_all(client, calls)

    asyncio.run(drive())

    text = generate_latest(registry).decode()
    assert duration_counts(text, "asgi") == dict(Counter(call.key for call in calls))
    assert value(registry, DURATION_COUNT) == len(calls)
    assert value(registry, DISCONNECTS) == 0
    assert_mix_accounted(registry, calls)
    assert value(registry, IN_FLIGHT, interface="asgi") == 0
    assert not any(in_flight_values(text))
    assert value(registry, "gatewatch_internal_errors_total") == 0


def test_uvicorn_blocking_versus_awaiting(tmp_path: Path) -> None:
    port = free_port()
    with ServerProcess(
        uvicorn_command(APP, port), port=port, ready_path="/fast", cwd=ROOT, log_path=tmp_path / "uvicorn.log"
    ) as server:
        with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
            # The first anyio.sleep imports anyio's asyncio backend on the loop: a real
            # one-off block that gatewatch rightly records. Warm it up, then measure.
            assert client.get("/slow?seconds=0.001").status_code == 200

            def warmed(text: str) -> bool:
                return duration_counts(text, "asgi").get(("GET", "/slow", "200")) == 1

            before = scrape_until(server.base_url, warmed)
            assert client.get("/blocking?seconds=0.05").status_code == 200
            assert client.get("/slow?seconds=0.3").status_code == 200

        def settled(text: str) -> bool:
            counts = duration_counts(text, "asgi")
            return counts.get(("GET", "/blocking", "200")) == 1 and counts.get(("GET", "/slow", "200")) == 2

        text = scrape_until(server.base_url, settled)

    blocking_sum = "gatewatch_http_route_blocking_seconds_total"
    duration_sum = "gatewatch_http_request_duration_seconds_sum"
    # time.sleep() inside an async view holds the loop for the whole sleep ...
    assert value(text, blocking_sum, route="/blocking") >= 0.05
    assert value(text, duration_sum, route="/blocking") >= 0.05
    # ... asyncio.sleep() takes as long but leaves the loop free.
    slow_duration = value(text, duration_sum, route="/slow") - value(before, duration_sum, route="/slow")
    slow_blocking = value(text, blocking_sum, route="/slow") - value(before, blocking_sum, route="/slow")
    # uvloop timers have millisecond granularity and may fire up to 1 ms early.
    assert slow_duration >= 0.299
    # Under half the awaited request (counting the await would be all of it): a loaded
    # machine's preemption of a few loop steps stays far below, where 5 ms did not.
    assert slow_blocking < slow_duration / 2
