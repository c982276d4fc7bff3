"""A request in flight names its route template as soon as the framework has routed it, not
only when it finishes: Starlette (read from the ASGI scope when the view is built), Flask
(its request_started signal), Django (its resolver match)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor
from gatewatch.export.live.state import LiveState
from gatewatch.record import RequestRecord, current_record
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.django_support import django_registry
from tests.support.live_support import TOKEN, asgi_view, fetch_asgi, wsgi_view
from tests.support.wsgi_driver import call, make_environ

__all__ = ["django_registry"]

pytestmark = pytest.mark.usefixtures("no_snapshot_dir")


def starlette_app(entered: asyncio.Event, release: asyncio.Event, seen: list[RequestRecord]) -> Starlette:
    async def waits(request: Request) -> PlainTextResponse:
        record = current_record.get()
        assert record is not None
        seen.append(record)
        entered.set()
        await release.wait()
        return PlainTextResponse("done")

    return Starlette(
        routes=[
            Route("/items/{item_id}", waits),
            Mount("/api", routes=[Route("/users/{name}", waits)]),
        ]
    )


@pytest.mark.parametrize(
    ("path", "root_path", "template"),
    [
        ("/items/7", "", "/items/{item_id}"),
        ("/api/users/ann", "", "/api/users/{name}"),
        # Behind a proxy's prefix (uvicorn --root-path): the template is the app's own.
        ("/shop/api/users/ann", "/shop", "/api/users/{name}"),
    ],
)
def test_starlette_request_in_flight_names_its_route(
    registry: CollectorRegistry, path: str, root_path: str, template: str
) -> None:
    seen: list[RequestRecord] = []

    async def main() -> tuple[dict[str, Any], dict[str, Any], Exchange]:
        entered, release = asyncio.Event(), asyncio.Event()
        app = GatewatchASGI(starlette_app(entered, release, seen), registry=registry, live_token=TOKEN)
        task = asyncio.create_task(serve(app, http_scope(path, root_path=root_path)))
        await asyncio.wait_for(entered.wait(), 5)
        during = asgi_view(await fetch_asgi(app))
        release.set()
        exchange = await task
        return during, asgi_view(await fetch_asgi(app)), exchange

    during, after, exchange = asyncio.run(main())
    assert exchange.body == b"done"
    [entry] = during["in_flight"]
    assert (entry["method"], entry["route"]) == ("GET", template)
    # The same name the finished request is counted under.
    [done] = after["recent"]
    assert done["route_label"] == template
    # Once out of flight, the record no longer holds the app's scope.
    [record] = seen
    assert record.scope is None and record.left


def test_asgi_request_not_routed_yet_has_no_route(registry: CollectorRegistry) -> None:
    async def main() -> dict[str, Any]:
        entered, release = asyncio.Event(), asyncio.Event()

        async def raw(scope: Any, receive: Any, send: Any) -> None:
            entered.set()
            await release.wait()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        app = GatewatchASGI(raw, registry=registry, live_token=TOKEN)
        task = asyncio.create_task(serve(app, http_scope("/anything")))
        await entered.wait()
        during = asgi_view(await fetch_asgi(app))
        release.set()
        await task
        return during

    [entry] = asyncio.run(main())["in_flight"]
    assert entry["route"] is None


class OddRoute:
    """A router object whose path cannot be read."""

    @property
    def path(self) -> str:
        raise RuntimeError("odd router")


def test_a_route_that_cannot_be_read_is_counted_not_raised() -> None:
    monitor = Monitor()
    state = LiveState(monitor)
    monitor.add_sink(state)
    record = monitor.start("asgi", "GET", "/odd")
    record.scope, record.root_path = {"route": OddRoute(), "root_path": ""}, ""
    [entry] = state.snapshot()["in_flight"]
    assert entry["route"] is None
    assert monitor.internal_errors == 1
    monitor.finish(record)
    assert record.scope is None


def test_flask_request_in_flight_names_its_route(registry: CollectorRegistry) -> None:
    entered, release = threading.Event(), threading.Event()
    flask_app = Flask(__name__)

    @flask_app.get("/items/<int:item_id>")
    def item(item_id: int) -> str:
        entered.set()
        release.wait(5)
        return f"item {item_id}"

    app = GatewatchWSGI(flask_app, registry=registry, live_token=TOKEN)
    worker = threading.Thread(target=call, args=(app, make_environ("/items/7")))
    worker.start()
    try:
        assert entered.wait(5)
        during = wsgi_view(app)
    finally:
        release.set()
        worker.join(5)
    [entry] = during["in_flight"]
    assert (entry["interface"], entry["route"]) == ("wsgi", "/items/<int:item_id>")
    assert [done["route_label"] for done in wsgi_view(app)["recent"]] == ["/items/<int:item_id>"]


@pytest.mark.usefixtures("django_registry")
def test_django_request_in_flight_names_its_route(registry: CollectorRegistry) -> None:
    from django.core.wsgi import get_wsgi_application

    app = GatewatchWSGI(get_wsgi_application(), registry=registry, live_token=TOKEN)
    state = app.runtime.live_state(app.monitor)
    worker = threading.Thread(
        target=call, args=(app, make_environ("/slow-sync/", QUERY_STRING="seconds=0.5"))
    )
    worker.start()
    try:
        # Polled until the view is named or the request is over, not read after a fixed 100 ms
        # (a loaded machine's first Django request can take longer to resolve its URL): a route
        # never named while in flight still fails below.
        deadline = time.monotonic() + 5
        in_flight = state.snapshot()["in_flight"]
        while time.monotonic() < deadline and not (in_flight and in_flight[0]["view"]):
            time.sleep(0.01)
            in_flight = state.snapshot()["in_flight"] or in_flight
    finally:
        worker.join(5)
    [entry] = in_flight
    assert (entry["route"], entry["view"]) == ("/slow-sync/", "examples.django_project.views.slow_sync")
