"""The ASGI path on every async library: the same accounting under asyncio and trio, through
anyio's pytest plugin (``anyio_backend`` in conftest runs each test on both)."""

from __future__ import annotations

import time

import anyio
import anyio.to_thread
import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from gatewatch.types import Receive, Scope, Send
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.scrape import value

pytestmark = pytest.mark.anyio
COUNT = "gatewatch_http_request_duration_seconds_count"


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


async def test_requests_are_counted_exactly(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(hello, registry=registry)
    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(serve, app, http_scope("/x"))
    assert value(registry, COUNT, status="200", interface="asgi") == 10
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 50
    assert app.monitor.in_flight_of("asgi") == 0


async def test_an_exception_propagates_and_is_a_500(registry: CollectorRegistry) -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("nope")

    with pytest.raises(LookupError, match="nope"):
        await serve(GatewatchASGI(failing, registry=registry), http_scope("/f"))
    assert value(registry, COUNT, status="500") == 1
    assert value(registry, "gatewatch_http_exceptions_total", exception="LookupError") == 1


async def test_a_cancelled_request_is_a_disconnect(registry: CollectorRegistry) -> None:
    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await anyio.sleep(10)

    app = GatewatchASGI(forever, registry=registry)
    with anyio.move_on_after(0.05):
        await serve(app, http_scope("/c"))
    assert value(registry, COUNT, status="499") == 1
    assert value(registry, "gatewatch_http_disconnects_total") == 1
    assert app.monitor.in_flight_of("asgi") == 0


async def test_loop_held_time_and_awaited_time(registry: CollectorRegistry) -> None:
    async def mixed(scope: Scope, receive: Receive, send: Send) -> None:
        time.sleep(0.05)
        await anyio.sleep(0.3)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await serve(GatewatchASGI(mixed, registry=registry), http_scope("/m"))
    blocking = value(registry, "gatewatch_http_request_blocking_seconds_sum")
    duration = value(registry, "gatewatch_http_request_duration_seconds_sum")
    assert duration >= 0.35
    # The held 0.05 s counts, the awaited 0.3 s does not: counting it would put blocking at
    # the whole duration; half of it leaves a loaded machine 100 ms of noise.
    assert 0.05 <= blocking < duration / 2


async def test_thread_hand_offs_through_anyio(registry: CollectorRegistry) -> None:
    async def offloads(scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, time.sleep, 0.2)
            group.start_soon(anyio.to_thread.run_sync, time.sleep, 0.3)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await serve(GatewatchASGI(offloads, registry=registry), http_scope("/o"))
    assert value(registry, "gatewatch_http_request_thread_hops_total") == 2
    # The wall time waited on threads: the longer hand-off, no more than the request took.
    # Adding the concurrent ones up (0.5 s) would exceed the request's ~0.3 s.
    offload = value(registry, "gatewatch_http_request_offload_seconds_sum")
    assert 0.3 <= offload <= value(registry, "gatewatch_http_request_duration_seconds_sum")


async def test_work_after_the_response_is_apart(registry: CollectorRegistry) -> None:
    async def background(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        assert app.monitor.in_flight_of("asgi") == 0
        await anyio.sleep(0.3)

    app = GatewatchASGI(background, registry=registry)
    exchange = await serve(app, http_scope("/b"), Exchange())
    assert exchange.body == b"done"
    after = value(registry, "gatewatch_http_request_after_response_seconds_sum")
    assert after >= 0.3
    # The work after the response is not part of it: compared with that work's own time, not
    # with a fixed window a loaded machine can miss.
    assert value(registry, "gatewatch_http_request_duration_seconds_sum") < after
