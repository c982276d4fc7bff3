"""Whatever fails inside gatewatch between start and finish, the request leaves in-flight and
is counted exactly once, and the app's own behaviour is unchanged."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI, set_route
from gatewatch._build import compiled
from gatewatch.types import Environ, Receive, Scope, Send, StartResponse
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.scrape import value
from tests.support.sinks import BrokenEverywhereSink
from tests.support.wsgi_driver import call, make_environ

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


async def ok_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def ok_wsgi(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_asgi_sink_failing_in_every_hook_loses_no_request(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry)
    app.monitor.add_sink(BrokenEverywhereSink())

    async def main() -> None:
        for _ in range(10):
            exchange = await serve(app, http_scope("/"))
            assert exchange.body == b"ok"

    asyncio.run(main())
    assert app.monitor.in_flight_of("asgi") == 0
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 10
    assert value(registry, "gatewatch_http_requests_in_flight", interface="asgi") == 0
    # started, left and finished (which carries the after-response numbers), for each of the
    # 10 requests.
    assert value(registry, "gatewatch_internal_errors_total") == 30


def test_wsgi_sink_failing_in_every_hook_loses_no_request(registry: CollectorRegistry) -> None:
    app = GatewatchWSGI(ok_wsgi, registry=registry)
    app.monitor.add_sink(BrokenEverywhereSink())
    for _ in range(10):
        assert call(app, make_environ("/")).body == b"ok"
    assert app.monitor.in_flight_of("wsgi") == 0
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 10
    assert value(registry, "gatewatch_internal_errors_total") >= 30


def test_set_route_with_a_non_string_raises_at_the_call(registry: CollectorRegistry) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        set_route(123)  # type: ignore[arg-type]

    wrapped = GatewatchASGI(app, registry=registry)
    with pytest.raises(TypeError, match=r"set_route\(\) takes the route template as a str, got int"):
        asyncio.run(serve(wrapped, http_scope("/x")))
    assert wrapped.monitor.in_flight_of("asgi") == 0
    assert value(registry, "gatewatch_http_exceptions_total", exception="TypeError") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="500") == 1


def test_set_route_outside_a_request_checks_its_argument_too() -> None:
    with pytest.raises(TypeError):
        set_route(None)  # type: ignore[arg-type]
    set_route("/fine")


def test_request_collected_on_a_closed_loop_is_counted_once(registry: CollectorRegistry) -> None:
    """A task still waiting when its loop is closed is collected later: its coroutine is closed
    outside the task's context, so resetting the context variable fails there."""

    async def waits_forever(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.Event().wait()

    app = GatewatchASGI(waits_forever, registry=registry, loop_lag_interval=None, block_threshold=None)
    exchange = Exchange()
    loop = asyncio.new_event_loop()
    task: Any = loop.create_task(app(http_scope("/"), exchange.receive, exchange.send))
    loop.run_until_complete(_tick())
    assert app.monitor.in_flight_of("asgi") == 1
    loop.close()
    del task
    gc.collect()
    assert app.monitor.in_flight_of("asgi") == 0
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 0
    # Pure Python closes the collected coroutine outside the task's context: the failed reset is
    # counted (before the fix it skipped the finish). A compiled coroutine is freed without
    # being closed; its exchange's finalizer finishes the request, and nothing fails.
    assert value(registry, "gatewatch_internal_errors_total") == (0 if compiled() else 1)


def test_a_dropped_exchange_finishes_its_request_once(registry: CollectorRegistry) -> None:
    """The compiled build's backstop (FinalizingExchange), exercised on both builds: an exchange
    freed before its request finished finishes it as cancelled; one freed after, not again."""
    from gatewatch.asgi._exchange import FinalizingExchange

    monitor = GatewatchASGI(ok_asgi, registry=registry, loop_lag_interval=None, block_threshold=None).monitor
    exchange = Exchange()
    for dropped in (True, False):
        record = monitor.start("asgi", "GET", "/")
        record.status = 200
        assert monitor.in_flight_of("asgi") == 1
        if not dropped:
            record.response_ended()
            monitor.finish(record)
        FinalizingExchange(record, monitor, exchange.receive, exchange.send)
        gc.collect()
        assert monitor.in_flight_of("asgi") == 0
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 1


async def _tick() -> None:
    await asyncio.sleep(0.01)
