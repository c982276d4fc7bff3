"""Channels WebSocket routes named by their URLRouter pattern, driven in process with
Channels' own WebsocketCommunicator through GatewatchASGI."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path
from prometheus_client import CollectorRegistry, generate_latest

from examples.django_project import consumers
from examples.django_project.routing import websocket_urlpatterns
from gatewatch import GatewatchASGI
from gatewatch.integrations.django.channels import NamedRoute, name_channels_routes
from tests.support.django_support import views
from tests.support.scrape import value
from tests.support.websocket_driver import CLOSES, MESSAGES, SESSIONS

ECHO = "/ws/echo/"
ROOM = "/ws/broadcast/<slug:room>/"


def application(registry: CollectorRegistry) -> GatewatchASGI:
    # Fresh routes: naming wraps each route's consumer in place.
    routes = [
        path(str(p.pattern), cast(Any, p.callback.app if isinstance(p.callback, NamedRoute) else p.callback))
        for p in websocket_urlpatterns
    ]
    return GatewatchASGI(ProtocolTypeRouter({"websocket": URLRouter(routes)}), registry=registry)


def test_sessions_are_labelled_with_the_urlrouter_pattern(registry: CollectorRegistry) -> None:
    app = application(registry)

    async def session() -> None:
        echo = WebsocketCommunicator(app, "/ws/echo/")
        assert (await echo.connect())[0]
        await echo.send_to(text_data="one")
        assert await echo.receive_from() == "one"
        await echo.send_to(text_data="close:4001")
        assert (await echo.receive_output())["code"] == 4001
        await echo.wait()

        first = WebsocketCommunicator(app, "/ws/broadcast/lobby/")
        second = WebsocketCommunicator(app, "/ws/broadcast/lobby/")
        assert (await first.connect())[0] and (await second.connect())[0]
        await first.send_to(text_data="hello room")
        assert await first.receive_from() == "hello room"
        assert await second.receive_from() == "hello room"
        await first.disconnect()
        await second.disconnect()

    asyncio.run(session())
    assert value(registry, SESSIONS, route=ECHO, outcome="accepted") == 1
    assert value(registry, SESSIONS, route=ROOM, outcome="accepted") == 2
    assert value(registry, CLOSES, route=ECHO, code="4001", initiator="server") == 1
    assert value(registry, MESSAGES, route=ROOM, direction="received", kind="text") == 1
    assert value(registry, MESSAGES, route=ROOM, direction="sent", kind="text") == 2
    assert views(generate_latest(registry).decode()) == {}
    # The raw path never becomes a label.
    assert "lobby" not in generate_latest(registry).decode()


def test_naming_walks_middleware_and_nested_routers() -> None:
    from channels.auth import AuthMiddlewareStack
    from channels.security.websocket import AllowedHostsOriginValidator

    inner = URLRouter([path("chat/<str:room>/", consumers.EchoConsumer.as_asgi())])
    app = ProtocolTypeRouter(
        {
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(
                    URLRouter(
                        [
                            path("ws/", inner),
                            path("ws/echo/", consumers.EchoConsumer.as_asgi()),
                        ]
                    )
                )
            ),
        }
    )
    assert name_channels_routes(app) == 2
    # Again: nothing new to name.
    assert name_channels_routes(app) == 0
    named = inner.routes[0].callback
    assert isinstance(named, NamedRoute)
    assert named.template == "/ws/chat/<str:room>/"
    assert (named.view, named.view_kind) == ("examples.django_project.consumers.EchoConsumer", "async")


@pytest.mark.parametrize("app", [object(), None, ProtocolTypeRouter({})])
def test_naming_leaves_other_applications_alone(app: object) -> None:
    assert name_channels_routes(app) == 0


def test_nested_routers_with_parameters_are_labelled_by_their_patterns(registry: CollectorRegistry) -> None:
    from django.urls import re_path

    rooms = URLRouter([re_path(r"^room/(?P<room>\w+)/$", consumers.EchoConsumer.as_asgi())])
    app = GatewatchASGI(
        ProtocolTypeRouter(
            {
                "websocket": URLRouter(
                    [
                        path("t/<slug:tenant>/", rooms),
                        re_path(
                            r"^r/(?P<tenant>[^/]+)/",
                            URLRouter([path("echo/", consumers.EchoConsumer.as_asgi())]),
                        ),
                    ]
                )
            }
        ),
        registry=registry,
    )

    async def sessions() -> None:
        for path_ in ("/t/customer-1/room/rawroom/", "/r/customer-2@example.com/echo/"):
            session = WebsocketCommunicator(app, path_)
            assert (await session.connect())[0]
            await session.disconnect()

    asyncio.run(sessions())
    text = generate_latest(registry).decode()
    assert value(text, SESSIONS, route="/t/<slug:tenant>/room/<room>/", outcome="accepted") == 1
    assert value(text, SESSIONS, route="/r/<tenant>/echo/", outcome="accepted") == 1
    for raw in ("customer-", "rawroom"):
        assert raw not in text
