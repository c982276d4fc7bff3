"""Work after the response is not the request: Starlette's BackgroundTasks run after the last
byte, outside in-flight, concurrency at arrival and duration, in the after-response histogram."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gatewatch import GatewatchASGI
from tests.support.asgi_driver import Exchange, http_scope
from tests.support.scrape import value

AFTER = "gatewatch_http_request_after_response_seconds"


def test_background_tasks_are_after_response_time(registry: CollectorRegistry) -> None:
    task_running = asyncio.Event()
    release = asyncio.Event()

    async def background() -> None:
        task_running.set()
        await release.wait()

    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("done", background=BackgroundTask(background))

    # After-response time by route: its histogram is per route with series="full".
    app = GatewatchASGI(Starlette(routes=[Route("/job", endpoint)]), registry=registry, series="full")

    async def main() -> None:
        exchange = Exchange()
        served = asyncio.create_task(app(http_scope("/job"), exchange.receive, exchange.send))
        await task_running.wait()
        # The client has its response; the background task still runs in the app's coroutine.
        assert exchange.body == b"done"
        assert app.monitor.in_flight_of("asgi") == 0
        second = Exchange()
        release_later = asyncio.get_running_loop().call_later(0.2, release.set)
        await app(http_scope("/job"), second.receive, second.send)
        release_later.cancel()
        await served

    asyncio.run(main())
    # The second request arrived while the first's background task ran: nothing in flight.
    assert value(registry, "gatewatch_http_concurrency_at_arrival_sum", interface="asgi") == 0
    assert value(registry, "gatewatch_http_request_duration_seconds_count", route="/job") == 2
    assert value(registry, AFTER + "_count", route="/job") == 2
    after = value(registry, AFTER + "_sum", route="/job")
    assert after >= 0.2
    # The background work is not part of the requests: compared with its own measured time
    # (counting it would put the requests above it), not with a fixed window.
    assert value(registry, "gatewatch_http_request_duration_seconds_sum", route="/job") < after / 2
