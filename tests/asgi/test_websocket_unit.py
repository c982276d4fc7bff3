"""GatewatchASGI on WebSocket scopes, in process: exact message accounting, the active gauge
and live table, blocking time, separation from HTTP, trio. Close rules: test_websocket_closes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import GatewatchASGI
from gatewatch.types import Receive, Scope, Send
from tests.support.asgi_driver import http_scope, serve
from tests.support.sampling import sample_every_request
from tests.support.scrape import samples, value
from tests.support.websocket_driver import (
    ACTIVE,
    ASCII_TEXT,
    BINARY,
    BLOCKING_COUNT,
    BLOCKING_SUM,
    BYTES,
    EXCEPTIONS,
    MESSAGES,
    ROUTE,
    UNICODE_TEXT,
    Session,
    assert_accepted_once,
    binary,
    closes,
    disconnect,
    drive,
    echo,
    expect_connect,
    last_closed,
    outcomes,
    run,
    text,
    wrap,
)

# -- Accepted sessions and exact message accounting -----------------------------------------


def test_client_close_and_exact_message_accounting(registry: CollectorRegistry) -> None:
    app = wrap(echo, registry)
    script = [text(UNICODE_TEXT), text(ASCII_TEXT), binary(BINARY), binary(b""), text(""), disconnect(1001)]
    session = run(app, Session(*script))

    # Transparent: the app saw the scripted messages, the server got the app's messages, unchanged.
    assert session.received[1:] == script
    assert session.sent_types() == ["websocket.accept"] + ["websocket.send"] * 5
    assert [m.get("text", m.get("bytes")) for m in session.sent[1:]] == [
        UNICODE_TEXT,
        ASCII_TEXT,
        BINARY,
        b"",
        "",
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


# -- Blocking time, HTTP separation, trio ------------------------------------------------------


def test_blocking_time_of_a_session(registry: CollectorRegistry) -> None:
    async def stall(scope: Scope, receive: Receive, send: Send) -> None:
        await expect_connect(receive)
        await send({"type": "websocket.accept"})
        while (await receive())["type"] == "websocket.receive":
            time.sleep(0.01)  # holds the loop on every message
            await asyncio.sleep(0.1)  # and leaves it free here

    run(wrap(stall, registry), Session(*[text("m")] * 3, disconnect(1000)))
    assert value(registry, BLOCKING_COUNT, route=ROUTE) == 1
    blocking = value(registry, BLOCKING_SUM, route=ROUTE)
    # The awaited sleeps are not counted: they would add 0.3 s; half of that is the margin
    # (with 5 ms sleeps a bound of 125 ms could not tell counting them from not).
    assert 0.03 <= blocking < 0.03 + 0.3 / 2


def test_sessions_never_appear_in_http_metrics(registry: CollectorRegistry) -> None:
    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await echo(scope, receive, send)

    # CPU time measured on every request: its histogram must count the HTTP one, not a session.
    app = sample_every_request(wrap(both, registry))
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
    http = [
        v
        for (n, _), v in samples(generate_latest(registry).decode()).items()
        if n.startswith("gatewatch_http_")
    ]
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
