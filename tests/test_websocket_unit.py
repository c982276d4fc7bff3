"""GatewatchASGI on WebSocket scopes, in process: outcomes, close initiators, exact message accounting.

Hand-written ASGI websocket apps are driven with scripted ``receive`` messages (``websocket.connect``
first) while everything they send is collected; no server, no network. Every app goes through
:func:`routed`, which names a route template in ``scope["route"]`` the way Starlette's router does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import GatewatchASGI
from gatewatch.asgi_types import ASGIApp, Message, Receive, Scope, Send
from tests.asgi_driver import http_scope, serve
from tests.scrape import samples, value

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

    def __init__(self, *incoming: Message, send_error: BaseException | None = None,
                 fail_on: str = "websocket.send") -> None:
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


def last_closed(app: GatewatchASGI) -> dict[str, Any]:
    recent = app.monitor.sessions.recent_closed()
    assert recent, "no closed session in the live table"
    return recent[-1]


def assert_accepted_once(registry: CollectorRegistry) -> None:
    assert outcomes(registry) == {"accepted": 1}
    assert value(registry, DURATION_COUNT, route=ROUTE) == 1
    assert value(registry, ACTIVE, route=ROUTE) == 0
    assert value(registry, INTERNAL_ERRORS) == 0


# -- Accepted sessions and exact message accounting -----------------------------------------


def test_client_close_and_exact_message_accounting(registry: CollectorRegistry) -> None:
    app = wrap(echo, registry)
    script = [text(UNICODE_TEXT), text(ASCII_TEXT), binary(BINARY), binary(b""), text(""), disconnect(1001)]
    session = run(app, Session(*script))

    # Transparent: the app saw the scripted messages, the server got the app's messages, unchanged.
    assert session.received[1:] == script
    assert session.sent_types() == ["websocket.accept"] + ["websocket.send"] * 5
    assert [m.get("text", m.get("bytes")) for m in session.sent[1:]] == [
        UNICODE_TEXT, ASCII_TEXT, BINARY, b"", ""
    ]

    unicode_bytes = len(UNICODE_TEXT.encode("utf-8"))
    assert unicode_bytes == 21 and len(UNICODE_TEXT) == 16  # the UTF-8 count differs from len()
    payload = unicode_bytes + len(ASCII_TEXT) + 256
    for direction in ("received", "sent"):
        assert value(registry, MESSAGES, route=ROUTE, direction=direction, kind="text") == 3
        assert value(registry, MESSAGES, route=ROUTE, direction=direction, kind="binary") == 2
        assert value(registry, BYTES, route=ROUTE, direction=direction) == payload
    assert closes(registry) == {("1001", "client"): 1}
    assert value(registry, EXCEPTIONS) == 0
    assert_accepted_once(registry)

    closed = last_closed(app)
    assert closed["route"] == ROUTE
    assert closed["outcome"] == "accepted"
    assert (closed["close_code"], closed["initiator"]) == (1001, "client")
    assert closed["received"] == {"text": 3, "binary": 2, "bytes": payload}
    assert closed["sent"] == {"text": 3, "binary": 2, "bytes": payload}
    assert closed["duration"] is not None and closed["duration"] >= 0
    assert app.monitor.sessions.open_sessions() == []


def test_utf8_bytes_counted_per_direction(registry: CollectorRegistry) -> None:
    """Text is counted as its UTF-8 encoding in both directions, whatever the app answers."""

    async def shout(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": "€" * 3})  # 9 UTF-8 bytes, 3 characters
        await send({"type": "websocket.send", "bytes": b"\xe2\x82\xac"})
        assert (await receive())["type"] == "websocket.disconnect", message

    run(wrap(shout, registry), Session(text("ø🙂"), disconnect(1000)))  # 2 + 4 bytes
    assert value(registry, BYTES, route=ROUTE, direction="received") == 6
    assert value(registry, BYTES, route=ROUTE, direction="sent") == 12
    assert value(registry, MESSAGES, route=ROUTE, direction="received", kind="text") == 1
    assert value(registry, MESSAGES, route=ROUTE, direction="received", kind="binary") == 0
    assert value(registry, MESSAGES, route=ROUTE, direction="sent", kind="text") == 1
    assert value(registry, MESSAGES, route=ROUTE, direction="sent", kind="binary") == 1


def test_active_gauge_and_live_session_table(registry: CollectorRegistry) -> None:
    seen: dict[str, Any] = {}
    holder: list[GatewatchASGI] = []

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        seen["active_before_accept"] = value(registry, ACTIVE, route=ROUTE)
        seen["open_before_accept"] = holder[0].monitor.sessions.open_sessions()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"]})
        seen["active_while_open"] = value(registry, ACTIVE, route=ROUTE)
        seen["open_while_open"] = holder[0].monitor.sessions.open_sessions()
        seen["recent_while_open"] = holder[0].monitor.sessions.recent_closed()
        assert (await receive())["type"] == "websocket.disconnect"

    app = wrap(observed, registry)
    holder.append(app)
    run(app, Session(text("hi"), disconnect(1000)))

    assert seen["active_before_accept"] == 0
    assert seen["open_before_accept"] == []
    assert seen["active_while_open"] == 1
    [live] = seen["open_while_open"]
    assert live["route"] == ROUTE
    assert live["outcome"] == "accepted"
    assert live["received"] == {"text": 1, "binary": 0, "bytes": 2}
    assert live["sent"] == {"text": 1, "binary": 0, "bytes": 2}
    assert live["close_code"] is None and live["initiator"] is None
    assert live["last_message_age"] is not None
    assert seen["recent_while_open"] == []

    assert value(registry, ACTIVE, route=ROUTE) == 0
    assert app.monitor.sessions.open_sessions() == []
    [closed] = app.monitor.sessions.recent_closed()
    assert closed["id"] == live["id"]
    assert (closed["close_code"], closed["initiator"]) == (1000, "client")


def test_active_gauge_counts_concurrent_sessions(registry: CollectorRegistry) -> None:
    """Three sessions open at once: the gauge says 3, then 0 once they all end."""
    release = asyncio.Event()
    opened: list[float] = []

    async def waiting(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        opened.append(value(registry, ACTIVE, route=ROUTE))
        await release.wait()
        assert (await receive())["type"] == "websocket.disconnect"

    app = wrap(waiting, registry)

    async def main() -> tuple[float, int]:
        tasks = [asyncio.create_task(drive(app, Session(disconnect(1000)))) for _ in range(3)]
        while len(opened) < 3:
            await asyncio.sleep(0)
        during = value(registry, ACTIVE, route=ROUTE)
        live = len(app.monitor.sessions.open_sessions())
        release.set()
        await asyncio.gather(*tasks)
        return during, live

    during, live = asyncio.run(main())
    assert opened == [1, 2, 3]
    assert (during, live) == (3, 3)
    assert value(registry, ACTIVE, route=ROUTE) == 0
    assert outcomes(registry) == {"accepted": 3}
    assert closes(registry) == {("1000", "client"): 3}


# -- Close initiators ------------------------------------------------------------------------


@pytest.mark.parametrize(("close", "expected_code"), [
    ({"type": "websocket.close"}, 1000),
    ({"type": "websocket.close", "code": 4001, "reason": "go away"}, 4001),
])
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
    start: Message = {"type": "websocket.http.response.start", "status": 401,
                      "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]}
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


# -- Blocking time, HTTP separation, trio ------------------------------------------------------


def test_blocking_time_of_a_session(registry: CollectorRegistry) -> None:
    async def stall(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        while (await receive())["type"] == "websocket.receive":
            time.sleep(0.01)  # holds the loop on every message
            await asyncio.sleep(0.005)  # and leaves it free here

    run(wrap(stall, registry), Session(*[text("m")] * 3, disconnect(1000)))
    assert value(registry, BLOCKING_COUNT, route=ROUTE) == 1
    blocking = value(registry, BLOCKING_SUM, route=ROUTE)
    assert 0.03 <= blocking < 0.03 + 0.015 * 3 + 0.05  # the awaited sleeps are not counted


def test_sessions_never_appear_in_http_metrics(registry: CollectorRegistry) -> None:
    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await echo(scope, receive, send)

    app = wrap(both, registry)
    run(app, Session(text("a"), binary(b"bb"), disconnect(1000)))
    run(app, Session(disconnect(1001)))
    exchange = asyncio.run(serve(app, http_scope("/plain")))
    assert exchange.status == 200 and exchange.body == b"ok"

    # Exactly the one HTTP request in every HTTP series: no session slipped in anywhere.
    text_out = generate_latest(registry).decode()
    http = {(n, lbls): v for (n, lbls), v in samples(text_out).items() if n.startswith("gatewatch_http_")}
    assert http, "the HTTP families are exported"
    assert value(text_out, "gatewatch_http_request_duration_seconds_count") == 1
    assert value(text_out, "gatewatch_http_request_duration_seconds_count", method="GET", status="200") == 1
    for name in ("blocking", "cpu"):
        assert value(text_out, f"gatewatch_http_request_{name}_seconds_count") == 1
    assert value(text_out, "gatewatch_http_time_to_first_byte_seconds_count") == 1
    assert value(text_out, "gatewatch_http_concurrency_at_arrival_count") == 1
    assert value(text_out, "gatewatch_http_request_body_bytes_total") == 0
    assert value(text_out, "gatewatch_http_response_body_bytes_total") == 2
    assert value(text_out, "gatewatch_http_requests_in_flight") == 0
    assert value(text_out, "gatewatch_http_exceptions_total") == 0
    assert value(text_out, "gatewatch_http_disconnects_total") == 0
    routes = {dict(lbls).get("route") for (_, lbls) in http} - {None}
    assert routes == {ROUTE}  # the HTTP request's own route, and only its series
    assert outcomes(registry) == {"accepted": 2}


def test_http_families_stay_empty_with_only_sessions(registry: CollectorRegistry) -> None:
    app = wrap(echo, registry)
    run(app, Session(text("x"), disconnect(1000)))
    http = [v for (n, _), v in samples(generate_latest(registry).decode()).items()
            if n.startswith("gatewatch_http_")]
    assert all(v == 0 for v in http), http


def test_trio_session(registry: CollectorRegistry) -> None:
    trio = pytest.importorskip("trio")

    async def trio_echo(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept", "subprotocol": None})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await trio.sleep(0.001)
            time.sleep(0.005)
            await send({"type": "websocket.send", "text": message["text"]})
            if message["text"] == "close":
                await send({"type": "websocket.close", "code": 4002})

    session = Session(text("ü"), text("close"), disconnect(4002))

    async def checkpoint() -> None:
        await trio.lowlevel.checkpoint()

    session.checkpoint = checkpoint
    app = wrap(trio_echo, registry)
    trio.run(drive, app, session)

    assert [m.get("text") for m in session.sent[1:3]] == ["ü", "close"]
    assert value(registry, MESSAGES, route=ROUTE, direction="received", kind="text") == 2
    assert value(registry, BYTES, route=ROUTE, direction="sent") == 2 + 5
    assert closes(registry) == {("4002", "server"): 1}
    assert value(registry, BLOCKING_SUM, route=ROUTE) >= 0.01
    assert_accepted_once(registry)


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
