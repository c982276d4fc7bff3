"""Drive WebSocket ASGI apps in process: scripted ``receive`` (``websocket.connect`` first),
collected ``send``, and readers for the session metrics. No server, no network.

Every app goes through :func:`routed`, which names a route template in ``scope["route"]`` the
way Starlette's router does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import GatewatchASGI
from gatewatch.export.live.schema import WebSocketSession
from gatewatch.types import ASGIApp, Message, Receive, Scope, Send
from tests.support.scrape import samples, value

ROUTE = "/ws/{room}"
PATH = "/ws/lobby"

ACTIVE = "gatewatch_websocket_sessions_active"
SESSIONS = "gatewatch_websocket_sessions_total"
DURATION_COUNT = "gatewatch_websocket_session_duration_seconds_count"
BLOCKING_SUM = "gatewatch_websocket_session_blocking_seconds_sum"
BLOCKING_COUNT = "gatewatch_websocket_session_blocking_seconds_count"
MESSAGES = "gatewatch_websocket_messages_total"
BYTES = "gatewatch_websocket_message_bytes_total"
CLOSES = "gatewatch_websocket_closes_total"
EXCEPTIONS = "gatewatch_websocket_exceptions_total"
INTERNAL_ERRORS = "gatewatch_internal_errors_total"

# Text that is not ASCII: 16 characters, 21 UTF-8 bytes (é, ö: 2 bytes each; ✓: 3; the e-acute
# written as e + combining accent: 1 + 2).
UNICODE_TEXT = "héllo wörld ✓ e\u0301"
ASCII_TEXT = "plain ascii"
BINARY = bytes(range(256))


def websocket_scope(path: str = PATH, **extra: Any) -> Scope:
    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    scope.update(extra)
    return scope


def text(payload: str) -> Message:
    return {"type": "websocket.receive", "text": payload}


def binary(payload: bytes) -> Message:
    return {"type": "websocket.receive", "bytes": payload}


def disconnect(code: int) -> Message:
    return {"type": "websocket.disconnect", "code": code}


class Session:
    """One session's messages: what the app will receive (after ``websocket.connect``), what it sent.

    ``send_error`` is raised by ``send`` for the first message of type ``fail_on`` (the server
    failing to deliver it because the connection is gone).
    """

    def __init__(
        self, *incoming: Message, send_error: BaseException | None = None, fail_on: str = "websocket.send"
    ) -> None:
        self.incoming: list[Message] = [{"type": "websocket.connect"}, *incoming]
        self.received: list[Message] = []
        self.sent: list[Message] = []
        self.send_error = send_error
        self.fail_on = fail_on
        self.checkpoint: Callable[[], Awaitable[None]] | None = None

    async def receive(self) -> Message:
        if self.checkpoint is not None:
            await self.checkpoint()
        if not self.incoming:
            raise AssertionError("the app read past the end of the script")
        message = self.incoming.pop(0)
        self.received.append(message)
        return message

    async def send(self, message: Message) -> None:
        if self.checkpoint is not None:
            await self.checkpoint()
        if self.send_error is not None and message["type"] == self.fail_on:
            raise self.send_error
        self.sent.append(message)

    def sent_types(self) -> list[str]:
        return [str(m["type"]) for m in self.sent]


async def drive(app: ASGIApp, session: Session, scope: Scope | None = None) -> Session:
    await app(websocket_scope() if scope is None else scope, session.receive, session.send)
    return session


def run(app: ASGIApp, session: Session, scope: Scope | None = None) -> Session:
    return asyncio.run(drive(app, session, scope))


@dataclass(frozen=True)
class RouteName:
    """What Starlette stores in ``scope["route"]``: an object with the template in ``.path``."""

    path: str


def routed(app: ASGIApp, template: str = ROUTE) -> ASGIApp:
    async def router(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = RouteName(template)
        await app(scope, receive, send)

    return router


def wrap(app: ASGIApp, registry: CollectorRegistry) -> GatewatchASGI:
    return GatewatchASGI(routed(app), registry=registry)


async def expect_connect(receive: Receive) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect", message


async def echo_messages(receive: Receive, send: Send) -> Message:
    """Echo until something other than a data message arrives; return it."""
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return message
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, echo everything, return when the client disconnects."""
    await expect_connect(receive)
    await send({"type": "websocket.accept"})
    last = await echo_messages(receive, send)
    assert last["type"] == "websocket.disconnect", last


def closes(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    """Every ``closes_total`` series of ROUTE as {(code, initiator): count}."""
    out: dict[tuple[str, str], float] = {}
    for (name, labels), number in samples(generate_latest(registry).decode()).items():
        found = dict(labels)
        if name == CLOSES and found.get("route") == ROUTE:
            out[(found["code"], found["initiator"])] = number
    return out


def outcomes(registry: CollectorRegistry) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, labels), number in samples(generate_latest(registry).decode()).items():
        found = dict(labels)
        if name == SESSIONS and found.get("route") == ROUTE and number:
            out[found["outcome"]] = number
    return out


def last_closed(app: GatewatchASGI) -> WebSocketSession:
    recent = app.monitor.sessions.recent_closed()
    assert recent, "no closed session in the live table"
    return recent[-1]


def assert_accepted_once(registry: CollectorRegistry) -> None:
    assert outcomes(registry) == {"accepted": 1}
    assert value(registry, DURATION_COUNT, route=ROUTE) == 1
    assert value(registry, ACTIVE, route=ROUTE) == 0
    assert value(registry, INTERNAL_ERRORS) == 0
