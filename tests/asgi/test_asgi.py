"""GatewatchASGI in process: transparency, exact accounting, blocking time, failure isolation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, set_route
from gatewatch.types import Message, Receive, Scope, Send
from tests.support.asgi_driver import Exchange, hello, http_scope, serve
from tests.support.sampling import sample_every_request
from tests.support.scrape import label_values, value
from tests.support.sinks import BrokenSink


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_request_is_recorded_exactly(registry: CollectorRegistry) -> None:
    app = sample_every_request(GatewatchASGI(hello, registry=registry))
    incoming = {"type": "http.request", "body": b"world", "more_body": False}
    exchange = run(serve(app, http_scope("/x", "POST"), Exchange(incoming)))
    assert exchange.body == b"hello world"
    assert exchange.status == 200
    labels = {"interface": "asgi", "method": "POST", "route": "<unmatched>"}
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200", **labels) == 1
    assert value(registry, "gatewatch_http_request_body_bytes_total", **labels) == 5
    assert value(registry, "gatewatch_http_response_body_bytes_total", **labels) == 11
    # First byte and CPU time: their distributions are the server's, their totals the route's.
    assert value(registry, "gatewatch_http_time_to_first_byte_seconds_count", interface="asgi") == 1
    assert value(registry, "gatewatch_http_request_cpu_seconds_count", interface="asgi") == 1
    assert value(registry, "gatewatch_http_route_cpu_samples_total", **labels) == 1
    cpu = value(registry, "gatewatch_http_route_cpu_seconds_total", **labels)
    assert cpu == value(registry, "gatewatch_http_request_cpu_seconds_sum") > 0
    assert value(registry, "gatewatch_http_requests_in_flight", interface="asgi") == 0
    assert value(registry, "gatewatch_http_concurrency_at_arrival_count", interface="asgi") == 1


@pytest.mark.parametrize("scope_type", ["lifespan", "somethingnew"])
def test_other_scopes_pass_through_untouched(registry: CollectorRegistry, scope_type: str) -> None:
    seen: list[tuple[Scope, Receive, Send]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    scope: Scope = {"type": scope_type, "asgi": {"version": "3.0"}}

    async def receive() -> Message:
        return {"type": "x"}

    async def send(message: Message) -> None:
        pass

    run(GatewatchASGI(app, registry=registry)(scope, receive, send))
    assert seen == [(scope, receive, send)]
    assert seen[0][1] is receive and seen[0][2] is send
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 0


def test_blocking_sleep_holds_the_loop(registry: CollectorRegistry) -> None:
    async def blocking(scope: Scope, receive: Receive, send: Send) -> None:
        time.sleep(0.2)
        await hello(scope, receive, send)

    run(serve(sample_every_request(GatewatchASGI(blocking, registry=registry)), http_scope("/block")))
    blocking_sum = value(registry, "gatewatch_http_request_blocking_seconds_sum")
    assert blocking_sum >= 0.2
    # time.sleep is not on CPU: well under the time it held the loop (a CPU clock that counted
    # the sleep would be at least as long), with room for a loaded machine's overhead.
    assert value(registry, "gatewatch_http_request_cpu_seconds_sum") < blocking_sum / 2


def test_awaiting_does_not_hold_the_loop(registry: CollectorRegistry) -> None:
    async def awaiting(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.3)
        await hello(scope, receive, send)

    run(serve(GatewatchASGI(awaiting, registry=registry), http_scope("/await")))
    duration = value(registry, "gatewatch_http_request_duration_seconds_sum")
    assert duration >= 0.3
    # The awaited 0.3 s is not loop-held time: under half the request (counting the await
    # would make it all of it), not a few ms a loaded machine's preemption can exceed.
    assert value(registry, "gatewatch_http_request_blocking_seconds_sum") < duration / 2


def test_duration_ends_with_the_last_body_chunk(registry: CollectorRegistry) -> None:
    async def with_background_work(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.03)
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        await asyncio.sleep(0.3)  # a background task after the response: not the client's wait

    run(serve(GatewatchASGI(with_background_work, registry=registry), http_scope("/bg")))
    duration = value(registry, "gatewatch_http_request_duration_seconds_sum")
    after = value(registry, "gatewatch_http_request_after_response_seconds_sum")
    assert after >= 0.3
    # Compared with the background work's own measured time (counting it would put the duration
    # above it), not with a fixed window a loaded machine can miss.
    assert 0.03 <= duration < after
    ttfb = value(registry, "gatewatch_http_time_to_first_byte_seconds_sum")
    assert 0.03 <= ttfb <= duration


def test_app_exception_propagates_unchanged(registry: CollectorRegistry) -> None:
    error = KeyError("nope")

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise error

    with pytest.raises(KeyError) as caught:
        run(serve(GatewatchASGI(failing, registry=registry), http_scope("/f")))
    assert caught.value is error
    assert value(registry, "gatewatch_http_exceptions_total", exception="KeyError", interface="asgi") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="500") == 1
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


def test_disconnect_mid_stream(registry: CollectorRegistry) -> None:
    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        message = await receive()
        assert message["type"] == "http.disconnect"  # the client went away: stop streaming

    run(serve(GatewatchASGI(streaming, registry=registry), http_scope("/s")))
    assert value(registry, "gatewatch_http_disconnects_total", route="<unmatched>") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 0
    assert value(registry, "gatewatch_http_exceptions_total") == 0


def test_send_failing_after_client_left_is_a_disconnect(registry: CollectorRegistry) -> None:
    error = OSError("client gone")
    exchange = Exchange(send_error=error, fail_after=1)
    with pytest.raises(OSError) as caught:
        run(serve(GatewatchASGI(hello, registry=registry), http_scope("/gone"), exchange))
    assert caught.value is error
    assert value(registry, "gatewatch_http_disconnects_total") == 1
    assert value(registry, "gatewatch_http_exceptions_total") == 0
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 0


def test_cancelled_request_is_a_disconnect(registry: CollectorRegistry) -> None:
    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.ensure_future(serve(GatewatchASGI(forever, registry=registry), http_scope("/c")))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert value(registry, "gatewatch_http_disconnects_total") == 1
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


def test_pathsend_counts_the_file(registry: CollectorRegistry, tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"z" * 1234)

    async def pathsend(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    run(serve(GatewatchASGI(pathsend, registry=registry), http_scope("/file")))
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 1234
    assert value(registry, "gatewatch_http_disconnects_total") == 0


def test_no_response_at_all_is_a_500(registry: CollectorRegistry) -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    run(serve(GatewatchASGI(silent, registry=registry), http_scope("/silent")))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="500") == 1


def test_concurrency_at_arrival_and_in_flight(registry: CollectorRegistry) -> None:
    release = asyncio.Event()
    peak: list[float] = []

    async def waits(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await hello(scope, receive, send)

    app = GatewatchASGI(waits, registry=registry)

    async def main() -> None:
        tasks = [asyncio.ensure_future(serve(app, http_scope("/w"))) for _ in range(5)]
        await asyncio.sleep(0.01)
        peak.append(value(registry, "gatewatch_http_requests_in_flight", interface="asgi"))
        release.set()
        await asyncio.gather(*tasks)

    run(main())
    assert peak == [5]
    assert value(registry, "gatewatch_http_requests_in_flight") == 0
    # Arrivals saw 0, 1, 2, 3 and 4 others in flight.
    assert value(registry, "gatewatch_http_concurrency_at_arrival_sum") == 0 + 1 + 2 + 3 + 4


def test_starlette_route_templates_with_mounts(registry: CollectorRegistry) -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def endpoint(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/users/{user_id}", endpoint)])
    app = Starlette(
        routes=[
            Route("/items/{item_id:int}", endpoint),
            Mount("/api", routes=[Route("/orders/{order_id}", endpoint)]),
            Mount("/v2", app=inner),
        ]
    )
    wrapped = GatewatchASGI(app, registry=registry)

    async def main() -> None:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in ["/items/1", "/items/2", "/api/orders/9", "/v2/users/4", "/api/nothing", "/zzz"]:
                await client.get(path)

    run(main())
    count = "gatewatch_http_request_duration_seconds_count"
    assert value(registry, count, route="/items/{item_id:int}") == 2
    assert value(registry, count, route="/api/orders/{order_id}") == 1
    assert value(registry, count, route="/v2/users/{user_id}") == 1
    assert value(registry, count, route="<unmatched>", status="404") == 2


def test_route_cardinality_is_bounded(registry: CollectorRegistry) -> None:
    async def raw_path_as_route(scope: Scope, receive: Receive, send: Send) -> None:
        set_route(scope["path"])  # the mistake a careless integration makes
        await hello(scope, receive, send)

    app = GatewatchASGI(raw_path_as_route, registry=registry, max_routes=50)

    async def main() -> None:
        for n in range(10_000):
            await serve(app, http_scope(f"/p/{n}"))
        await serve(app, http_scope("/unnamed"))

    run(main())
    routes = label_values(registry, "gatewatch_http_request_duration_seconds_count", "route")
    assert len(routes) <= 50 + 2
    assert "<other>" in routes
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 10_000 + 1
    other = value(registry, "gatewatch_http_request_duration_seconds_count", route="<other>")
    assert other == 10_000 + 1 - 50
    assert len(app.monitor.routes) == 50


def test_metrics_path_is_served_and_not_counted(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(hello, registry=registry, metrics_path="/metrics")
    run(serve(app, http_scope("/a")))
    exchange = run(serve(app, http_scope("/metrics")))
    assert exchange.status == 200
    assert value(exchange.body.decode(), "gatewatch_http_request_duration_seconds_count") == 1
    exchange = run(serve(app, http_scope("/metrics", headers=[(b"accept", b"application/openmetrics-text")])))
    headers = dict(next(m for m in exchange.sent if m["type"] == "http.response.start")["headers"])
    assert headers[b"Content-Type"].startswith(b"application/openmetrics-text")


def test_internal_error_never_reaches_the_app(registry: CollectorRegistry) -> None:
    app = sample_every_request(GatewatchASGI(hello, registry=registry))
    app.monitor.add_sink(BrokenSink())
    exchange = run(serve(app, http_scope("/ok")))
    assert exchange.body == b"hello "
    assert value(registry, "gatewatch_internal_errors_total") == 1
    # The aggregator ran before the broken sink: the request is still counted once.
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 1


def test_many_middlewares_on_one_registry(registry: CollectorRegistry) -> None:
    apps = [GatewatchASGI(hello, registry=registry) for _ in range(20)]
    for app in apps:
        run(serve(app, http_scope("/")))
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 20
    assert len({id(app.monitor) for app in apps}) == 1


def test_trio_runs_the_same_path(registry: CollectorRegistry) -> None:
    trio = pytest.importorskip("trio")

    async def sleepy(scope: Scope, receive: Receive, send: Send) -> None:
        await trio.sleep(0.3)
        time.sleep(0.02)
        await hello(scope, receive, send)

    exchange = trio.run(serve, GatewatchASGI(sleepy, registry=registry), http_scope("/trio"))
    assert exchange.body == b"hello "
    blocking = value(registry, "gatewatch_http_request_blocking_seconds_sum")
    duration = value(registry, "gatewatch_http_request_duration_seconds_sum")
    assert duration >= 0.32
    # The held 0.02 s counts, the awaited 0.3 s does not (it would make blocking the whole
    # duration); half the duration leaves a loaded machine room, where 15 ms did not.
    assert 0.02 <= blocking < duration / 2


def test_disconnect_queued_during_the_final_send_is_not_a_disconnect(registry: CollectorRegistry) -> None:
    """hypercorn queues http.disconnect inside the last send; the response was delivered."""
    from starlette.responses import StreamingResponse

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def body() -> Any:
            yield b"hello"

        await StreamingResponse(body())(scope, receive, send)

    inbox: asyncio.Queue[Message] = asyncio.Queue()
    inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            inbox.put_nowait({"type": "http.disconnect"})
            await asyncio.sleep(0)

    scope = http_scope("/stream", asgi={"version": "3.0", "spec_version": "2.1"})
    run(GatewatchASGI(app, registry=registry)(scope, receive, send))
    assert value(registry, "gatewatch_http_disconnects_total") == 0
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 1
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 5


def test_cpu_time_off_exports_no_cpu_samples(registry: CollectorRegistry) -> None:
    run(serve(GatewatchASGI(hello, registry=registry, cpu_time=False), http_scope("/")))
    assert value(registry, "gatewatch_http_request_cpu_seconds_count") == 0
    assert value(registry, "gatewatch_http_request_blocking_seconds_count") == 1
