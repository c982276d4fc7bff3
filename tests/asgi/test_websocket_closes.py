"""GatewatchASGI on WebSocket scopes, in process: who closed, with which code, and the sessions
never accepted (rejected, denied, failed)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from gatewatch.types import Message, Receive, Scope, Send
from tests.support.scrape import value
from tests.support.websocket_driver import (
    ACTIVE,
    BLOCKING_COUNT,
    BYTES,
    DURATION_COUNT,
    EXCEPTIONS,
    MESSAGES,
    ROUTE,
    Session,
    assert_accepted_once,
    closes,
    disconnect,
    echo,
    expect_connect,
    last_closed,
    outcomes,
    run,
    text,
    wrap,
)

# -- Close initiators ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("close", "expected_code"),
    [
        ({"type": "websocket.close"}, 1000),
        ({"type": "websocket.close", "code": 4001, "reason": "go away"}, 4001),
    ],
)
def test_server_close(registry: CollectorRegistry, close: Message, expected_code: int) -> None:
    """The app closes first: server initiated, its code (1000 by default); the client's echo
    of the close frame arriving afterwards does not change that."""

    async def closer(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"]})
        await send(close)
        assert (await receive())["type"] == "websocket.disconnect"

    app = wrap(closer, registry)
    session = run(app, Session(text("bye"), disconnect(expected_code)))
    assert session.sent[-1] is close
    assert closes(registry) == {(str(expected_code), "server"): 1}
    assert_accepted_once(registry)
    closed = last_closed(app)
    assert (closed["close_code"], closed["initiator"]) == (expected_code, "server")


def test_client_close_first_stays_client_when_the_app_closes_after(registry: CollectorRegistry) -> None:
    async def polite(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        assert (await receive())["type"] == "websocket.disconnect"
        await send({"type": "websocket.close", "code": 1000})

    app = wrap(polite, registry)
    run(app, Session(disconnect(4100)))
    assert closes(registry) == {("4100", "client"): 1}
    assert_accepted_once(registry)
    assert (last_closed(app)["close_code"], last_closed(app)["initiator"]) == (4100, "client")


def test_app_raising_after_accept_is_server_1011(registry: CollectorRegistry) -> None:
    boom = RuntimeError("the consumer failed mid-session")

    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        await receive()
        raise boom

    app = wrap(crashing, registry)
    with pytest.raises(RuntimeError) as caught:
        run(app, Session(text("x")))
    assert caught.value is boom
    assert closes(registry) == {("1011", "server"): 1}
    assert value(registry, EXCEPTIONS, route=ROUTE, exception="RuntimeError") == 1
    assert value(registry, EXCEPTIONS) == 1
    assert_accepted_once(registry)
    closed = last_closed(app)
    assert (closed["outcome"], closed["close_code"], closed["initiator"]) == ("accepted", 1011, "server")


def test_app_raising_after_the_client_left_keeps_the_client_close(registry: CollectorRegistry) -> None:
    boom = ValueError("cleanup failed")

    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        await receive()
        raise boom

    with pytest.raises(ValueError) as caught:
        run(wrap(crashing, registry), Session(disconnect(1001)))
    assert caught.value is boom
    assert closes(registry) == {("1001", "client"): 1}
    assert value(registry, EXCEPTIONS, route=ROUTE, exception="ValueError") == 1


def test_app_returning_while_open_is_server_1000(registry: CollectorRegistry) -> None:
    async def hit_and_run(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "bytes": b"\x00\x01"})

    app = wrap(hit_and_run, registry)
    session = run(app, Session())
    assert session.sent_types() == ["websocket.accept", "websocket.send"]
    assert closes(registry) == {("1000", "server"): 1}
    assert value(registry, MESSAGES, route=ROUTE, direction="sent", kind="binary") == 1
    assert value(registry, BYTES, route=ROUTE, direction="sent") == 2
    assert_accepted_once(registry)
    assert (last_closed(app)["close_code"], last_closed(app)["initiator"]) == (1000, "server")


def test_send_raising_oserror_is_a_client_drop_1006(registry: CollectorRegistry) -> None:
    gone = ConnectionResetError("the client went away")

    app = wrap(echo, registry)
    with pytest.raises(ConnectionResetError) as caught:
        run(app, Session(text("lost"), send_error=gone))
    assert caught.value is gone
    assert closes(registry) == {("1006", "client"): 1}
    # The message that could not be delivered is not counted as sent.
    assert value(registry, MESSAGES, route=ROUTE, direction="received", kind="text") == 1
    assert value(registry, MESSAGES, route=ROUTE, direction="sent") == 0
    assert value(registry, BYTES, route=ROUTE, direction="sent") == 0
    assert_accepted_once(registry)
    closed = last_closed(app)
    assert (closed["close_code"], closed["initiator"]) == (1006, "client")


# -- Sessions never accepted -----------------------------------------------------------------


def assert_not_accepted(registry: CollectorRegistry, outcome: str) -> None:
    assert outcomes(registry) == {outcome: 1}
    # Never accepted: no duration, no close, never active.
    assert value(registry, DURATION_COUNT, route=ROUTE) == 0
    assert closes(registry) == {}
    assert value(registry, ACTIVE) == 0
    assert value(registry, MESSAGES) == 0
    assert value(registry, BLOCKING_COUNT, route=ROUTE) == 1


def test_close_before_accept_is_rejected(registry: CollectorRegistry) -> None:
    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.close", "code": 1008})

    app = wrap(refuse, registry)
    session = run(app, Session())
    assert session.sent == [{"type": "websocket.close", "code": 1008}]
    assert_not_accepted(registry, "rejected")
    closed = last_closed(app)
    assert closed["outcome"] == "rejected"
    assert closed["duration"] is None
    assert app.monitor.sessions.open_sessions() == []


def test_returning_without_accept_is_rejected(registry: CollectorRegistry) -> None:
    async def ignore(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)

    app = wrap(ignore, registry)
    session = run(app, Session())
    assert session.sent == []
    assert_not_accepted(registry, "rejected")
    assert last_closed(app)["outcome"] == "rejected"


def test_denial_response_is_rejected(registry: CollectorRegistry) -> None:
    start: Message = {
        "type": "websocket.http.response.start",
        "status": 401,
        "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
    }
    body: Message = {"type": "websocket.http.response.body", "body": b"token required"}

    async def deny(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        assert "websocket.http.response" in scope["extensions"]
        await send(start)
        await send(body)

    app = wrap(deny, registry)
    session = run(app, Session())
    assert session.sent == [start, body]
    assert session.sent[0] is start and session.sent[1] is body
    assert_not_accepted(registry, "rejected")
    assert last_closed(app)["outcome"] == "rejected"


class ConsumerError(Exception):
    pass


def test_app_raising_before_accept_is_failed(registry: CollectorRegistry) -> None:
    boom = ConsumerError("handshake handler crashed")

    async def crash_early(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        raise boom

    app = wrap(crash_early, registry)
    with pytest.raises(ConsumerError) as caught:
        run(app, Session())
    assert caught.value is boom
    assert_not_accepted(registry, "failed")
    label = f"{__name__}.ConsumerError"
    assert value(registry, EXCEPTIONS, route=ROUTE, exception=label) == 1
    assert value(registry, EXCEPTIONS) == 1
    closed = last_closed(app)
    assert closed["outcome"] == "failed"
    assert closed["duration"] is None


def test_client_gone_under_send_is_not_an_app_exception(registry: CollectorRegistry) -> None:
    """The server's send raising OSError means the client left: a drop, not an app bug."""

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message.get("text")})

    incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "x"}]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise ConnectionResetError("peer reset")

    scope: Scope = {"type": "websocket", "path": "/ws", "root_path": "", "headers": [], "subprotocols": []}
    with pytest.raises(ConnectionResetError):
        asyncio.run(GatewatchASGI(echo, registry=registry)(scope, receive, send))
    assert value(registry, "gatewatch_websocket_exceptions_total") == 0
    assert value(registry, "gatewatch_websocket_closes_total", code="1006", initiator="client") == 1
