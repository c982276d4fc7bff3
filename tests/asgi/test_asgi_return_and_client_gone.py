"""GatewatchASGI returns what the app returns, and sees a client gone behind the server's send
(uvicorn's and hypercorn's own flags)."""

from __future__ import annotations

from asyncio import run
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from gatewatch._paths import SpecialPaths
from gatewatch.types import Message, Receive, Scope, Send
from tests.support.asgi_driver import Exchange, hello, http_scope
from tests.support.scrape import value


@pytest.mark.parametrize("scope_type", ["http", "websocket", "lifespan", "somethingnew"])
def test_what_the_app_returns_is_returned(registry: CollectorRegistry, scope_type: str) -> None:
    """uvicorn closes the connection when the app returns something other than None."""
    returned = object()

    async def app(scope: Scope, receive: Receive, send: Send) -> object:
        if scope["type"] == "http":
            await hello(scope, receive, send)
        return returned

    scope = http_scope("/r") if scope_type == "http" else {"type": scope_type, "path": "/r"}
    exchange = Exchange()
    wrapped = GatewatchASGI(app, registry=registry)
    assert run(wrapped(scope, exchange.receive, exchange.send)) is returned


def test_what_an_own_page_returns_is_returned(registry: CollectorRegistry) -> None:
    wrapped = GatewatchASGI(hello, registry=registry, metrics_path="/metrics")
    page_returned = object()

    async def page(scope: Scope, receive: Receive, send: Send) -> Any:
        return page_returned

    wrapped._paths = SpecialPaths({"/metrics": page})
    exchange = Exchange()
    assert run(wrapped(http_scope("/metrics"), exchange.receive, exchange.send)) is page_returned


def server_send_class(module: str, name: str, flag: str) -> type:
    """A stand-in for the per-request object behind a real server's ``send`` (same module and
    class name, same flag), recording what it was sent."""

    async def send(self: Any, message: Message) -> None:
        self.sent.append(message)
        if self.close_on_final and message["type"] == "http.response.body" and not message.get("more_body"):
            setattr(self, flag, True)  # hypercorn closes its own stream inside the final send

    def init(self: Any) -> None:
        self.sent = []
        self.close_on_final = False
        setattr(self, flag, False)

    return type(name, (), {"__module__": module, "__init__": init, "send": send})


UVICORN_CYCLE = ("uvicorn.protocols.http.httptools_impl", "RequestResponseCycle", "disconnected")
HYPERCORN_STREAM = ("hypercorn.protocol.http_stream", "HTTPStream", "closed")


async def two_chunks(scope: Scope, receive: Receive, send: Send) -> None:
    """Streams without ever calling receive(); the client may leave between the chunks."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"one", "more_body": True})
    leave = scope.get("leave")
    if leave is not None:
        leave()
    await send({"type": "http.response.body", "body": b"two"})


@pytest.mark.parametrize("server", [UVICORN_CYCLE, HYPERCORN_STREAM], ids=["uvicorn", "hypercorn"])
def test_client_gone_behind_the_servers_send_is_a_disconnect(
    registry: CollectorRegistry, server: tuple[str, str, str]
) -> None:
    module, name, flag = server
    connection = server_send_class(module, name, flag)()
    scope = http_scope("/gone", leave=lambda: setattr(connection, flag, True))
    run(GatewatchASGI(two_chunks, registry=registry)(scope, Exchange().receive, connection.send))
    # The app's messages all reached the server, untouched: the server drops them, not gatewatch.
    assert [m.get("body") for m in connection.sent] == [None, b"one", b"two"]
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1
    assert value(registry, "gatewatch_http_disconnects_total") == 1
    assert value(registry, "gatewatch_http_exceptions_total") == 0
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


@pytest.mark.parametrize("server", [UVICORN_CYCLE, HYPERCORN_STREAM], ids=["uvicorn", "hypercorn"])
def test_client_still_there_is_a_200(registry: CollectorRegistry, server: tuple[str, str, str]) -> None:
    module, name, flag = server
    connection = server_send_class(module, name, flag)()
    connection.close_on_final = True
    run(GatewatchASGI(two_chunks, registry=registry)(http_scope("/ok"), Exchange().receive, connection.send))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 1
    assert value(registry, "gatewatch_http_disconnects_total") == 0
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 6


def test_returning_without_a_final_body_after_the_client_left_is_a_disconnect(
    registry: CollectorRegistry,
) -> None:
    module, name, flag = UVICORN_CYCLE
    connection = server_send_class(module, name, flag)()

    async def gives_up(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        connection.disconnected = True

    run(GatewatchASGI(gives_up, registry=registry)(http_scope("/g"), Exchange().receive, connection.send))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1


def test_a_flag_on_an_unknown_send_owner_is_ignored(registry: CollectorRegistry) -> None:
    """Only uvicorn's and hypercorn's own classes are read: a look-alike elsewhere means nothing."""
    connection = server_send_class("myproject.middleware", "RequestResponseCycle", "disconnected")()
    connection.disconnected = True
    run(GatewatchASGI(two_chunks, registry=registry)(http_scope("/x"), Exchange().receive, connection.send))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 1
