"""The live view's bookkeeping: requests in flight, the recent ring, loop lag and blocks,
WebSocket sessions; bounded, and never a query string or a cookie. Per-second totals apart
(test_live_seconds.py)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor, set_route
from gatewatch.export.live.endpoint import live_body
from gatewatch.export.live.schema import WebSockets
from gatewatch.export.live.state import LiveState
from gatewatch.integrations._serving_server import calling_server
from gatewatch.runtime import Runtime
from gatewatch.types import Environ, Receive, Scope, Send, StartResponse
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.live_support import (
    DURATION_COUNT,
    LIVE,
    SECRET_COOKIE,
    SECRET_PATH,
    SECRET_QUERY,
    TOKEN,
    asgi_view,
    fetch_asgi,
    ok_asgi,
    ok_wsgi,
    only_process,
    response_headers,
    wsgi_view,
)
from tests.support.sampling import sample_every_request
from tests.support.scrape import value
from tests.support.sinks import BrokenSink
from tests.support.websocket_driver import Session, disconnect, echo, text, websocket_scope, wrap
from tests.support.wsgi_driver import call, make_environ

# Snapshot files only where a test asks for them.
pytestmark = pytest.mark.usefixtures("no_snapshot_dir")


def test_asgi_request_in_flight_then_recent(registry: CollectorRegistry) -> None:
    async def main() -> tuple[Exchange, Exchange, float, float]:
        release = asyncio.Event()
        called = asyncio.Event()

        async def slow(scope: Scope, receive: Receive, send: Send) -> None:
            called.set()
            set_route("/items/{id}")
            await receive()
            time.sleep(0.02)  # holds the loop: blocking so far
            await release.wait()
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})

        app = sample_every_request(GatewatchASGI(slow, registry=registry, live_token=TOKEN))
        begun = time.time()
        scope = http_scope(
            SECRET_PATH, query_string=SECRET_QUERY.encode(), headers=[(b"cookie", SECRET_COOKIE.encode())]
        )
        task = asyncio.create_task(serve(app, scope))
        # The record starts before the app is called: 50 ms after the call it is older.
        await called.wait()
        await asyncio.sleep(0.05)
        during = await fetch_asgi(app)
        release.set()
        await task
        ended = time.time()
        return during, await fetch_asgi(app), begun, ended

    during, after, begun, ended = asyncio.run(main())
    for exchange in (during, after):
        headers = response_headers(exchange)
        assert headers[b"content-type"] == b"application/json"
        assert headers[b"cache-control"] == b"no-store"
        for secret in (SECRET_QUERY, SECRET_COOKIE, SECRET_PATH):
            assert secret.encode() not in exchange.body
    process = asgi_view(during)
    [entry] = process["in_flight"]
    assert set(entry) == {
        "id",
        "interface",
        "method",
        "route",
        "age",
        "blocking",
        "cpu",
        "thread_hops",
        "offload",
        "view",
        "view_kind",
        "awaiting",
    }
    assert (entry["id"], entry["interface"], entry["method"], entry["route"]) == (
        1,
        "asgi",
        "GET",
        "/items/{id}",
    )
    assert entry["age"] >= 0.05
    assert 0.02 <= entry["blocking"] < entry["age"]
    assert 0 <= entry["cpu"] <= entry["blocking"]
    assert (entry["thread_hops"], entry["offload"], entry["view"], entry["view_kind"]) == (0, None, None, "")
    # What it awaits now: the innermost frame of its await chain, asyncio.Event.wait.
    awaiting = entry["awaiting"]
    assert awaiting is not None
    assert (awaiting["function"], Path(awaiting["file"]).name) == ("Event.wait", "locks.py")
    assert process["in_flight_unlisted"] == 0
    assert process["in_flight_counts"] == [{"interface": "asgi", "method": "GET", "count": 1}]
    assert process["recent"] == [] and process["per_second"] == []
    # Whatever ASGI server this test process has imported (none, or daphne via channels.testing).
    assert process["servers"] == {"asgi": calling_server()}

    process = asgi_view(after)
    assert process["in_flight"] == []
    assert process["in_flight_counts"] == [{"interface": "asgi", "method": "GET", "count": 0}]
    [done] = process["recent"]
    assert {
        k: done[k]
        for k in (
            "interface",
            "method",
            "route_label",
            "status_label",
            "request_bytes",
            "response_bytes",
            "exception_label",
            "disconnected",
            "concurrency",
            "offload",
            "thread_hops",
            "view",
            "view_kind",
        )
    } == {
        "interface": "asgi",
        "method": "GET",
        "route_label": "/items/{id}",
        "status_label": "201",
        "request_bytes": 0,
        "response_bytes": 4,
        "exception_label": None,
        "disconnected": False,
        "concurrency": 0,
        "offload": None,
        "thread_hops": 0,
        "view": None,
        "view_kind": "",
    }
    assert done["duration"] >= 0.049
    assert 0.02 <= done["blocking"] < done["duration"]
    assert done["longest_step"] >= 0.02
    assert 0 < done["ttfb"] <= done["duration"]
    assert begun <= done["finished_at"] <= ended
    [second] = process["per_second"]
    assert second["second"] == int(done["finished_at"])
    counts = (second["requests"], second["server_errors"], second["disconnects"], second["exceptions"])
    assert counts == (1, 0, 0, 0)
    assert second["duration_sum"] == second["duration_max"] == done["duration"]
    # Only the slow request was counted: the live page is not.
    assert value(registry, DURATION_COUNT) == 1


def test_wsgi_request_in_flight_holds_its_worker(registry: CollectorRegistry) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(environ: Environ, start_response: StartResponse) -> list[bytes]:
        started.set()
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    app = GatewatchWSGI(slow, registry=registry, live_token=TOKEN)
    environ = make_environ(SECRET_PATH, QUERY_STRING=SECRET_QUERY, HTTP_COOKIE=SECRET_COOKIE)
    worker = threading.Thread(target=call, args=(app, environ))
    worker.start()
    try:
        assert started.wait(5)
        time.sleep(0.02)
        response = call(app, make_environ(LIVE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"))
    finally:
        release.set()
        worker.join(5)
    for secret in (SECRET_QUERY, SECRET_COOKIE, SECRET_PATH):
        assert secret.encode() not in response.body
    process = only_process(json.loads(response.body))
    [entry] = process["in_flight"]
    assert (entry["interface"], entry["method"], entry["route"]) == ("wsgi", "GET", None)
    assert entry["age"] >= 0.02
    # The worker is held from the call on; its CPU time is only read at the end.
    assert entry["blocking"] == entry["age"]
    assert entry["cpu"] is None
    process = wsgi_view(app)
    assert process["in_flight"] == []
    [done] = process["recent"]
    assert (done["route_label"], done["status_label"], done["response_bytes"]) == ("<unmatched>", "200", 4)
    assert done["blocking"] == done["duration"] >= 0.02
    assert value(registry, DURATION_COUNT) == 1


def test_recent_ring_keeps_the_last_200(registry: CollectorRegistry) -> None:
    def sized(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"x" * int(environ["PATH_INFO"].rsplit("/", 1)[1])]

    app = GatewatchWSGI(sized, registry=registry, live_token=TOKEN)
    for size in range(205):
        call(app, make_environ(f"/size/{size}"))
    process = wsgi_view(app)
    assert [entry["response_bytes"] for entry in process["recent"]] == list(range(5, 205))
    assert sum(entry["requests"] for entry in process["per_second"]) == 205


def test_in_flight_listing_is_bounded_and_counts_the_rest() -> None:
    monitor = Monitor()
    state = LiveState(monitor, max_in_flight=2)
    monitor.add_sink(state)
    records = [monitor.start("wsgi", "GET", f"/{n}") for n in range(3)]
    snapshot = state.snapshot()
    assert [entry["id"] for entry in snapshot["in_flight"]] == [1, 2]
    assert snapshot["in_flight_unlisted"] == 1
    monitor.finish(records[2])
    monitor.finish(records[0])
    snapshot = state.snapshot()
    assert [entry["id"] for entry in snapshot["in_flight"]] == [2]
    assert snapshot["in_flight_unlisted"] == 0
    # A request that started before the state was attached finishes without disturbing it.
    late = LiveState(monitor)
    monitor.add_sink(late)
    monitor.finish(records[1])
    assert late.snapshot()["in_flight"] == [] and len(late.snapshot()["recent"]) == 1


def test_a_sink_failing_first_does_not_leave_requests_in_flight(runtime: Runtime) -> None:
    monitor = Monitor(sinks=(BrokenSink(),))
    state = runtime.live_state(monitor)
    record = monitor.start("asgi", "GET", "/x")
    # The failing sink is counted; finish never raises and the sinks after it still hear.
    monitor.finish(record)
    assert monitor.internal_errors == 1
    assert state.snapshot()["in_flight"] == []
    assert len(state.snapshot()["recent"]) == 1


def test_loop_lag_and_blocks_are_bounded() -> None:
    state = LiveState(Monitor())
    for n in range(601):
        state.add_lag_sample(n / 1000, at=1000.0 + n)
    state.add_loop_block("/first", 0.5, ["first"])
    for n in range(100):
        state.add_loop_block("/blocked", 0.25, [f"frame {i}" for i in range(n + 150)])
    snapshot = state.snapshot()
    assert len(snapshot["loop_lag"]) == 600
    assert snapshot["loop_lag"][0] == {"at": 1001.0, "lag": 0.001}
    assert snapshot["loop_lag"][-1] == {"at": 1600.0, "lag": 0.6}
    blocks = snapshot["loop_blocks"]
    assert len(blocks) == 100
    assert {b["route"] for b in blocks} == {"/blocked"}
    assert blocks[0]["duration"] == 0.25 and blocks[0]["stack"] == [f"frame {i}" for i in range(150)]
    # Only the innermost lines of a deep stack are kept.
    assert blocks[-1]["stack"] == [f"frame {i}" for i in range(49, 249)]
    assert time.time() - 5 < blocks[-1]["at"] <= time.time()


def test_websocket_sessions_come_from_the_monitor(registry: CollectorRegistry) -> None:
    app = wrap(echo, registry)
    state = app.runtime.live_state(app.monitor)
    seen: list[WebSockets] = []
    session = Session(text("hi"), disconnect(1000))

    async def checkpoint() -> None:
        seen.append(state.snapshot()["websockets"])

    session.checkpoint = checkpoint
    asyncio.run(app(websocket_scope(), session.receive, session.send))
    while_open = next(ws for ws in seen if ws["open"])
    [open_session] = while_open["open"]
    assert (open_session["route"], open_session["outcome"]) == ("/ws/{room}", "accepted")
    assert while_open["active_by_route"] == {"/ws/{room}": 1}
    websockets = state.snapshot()["websockets"]
    assert websockets["open"] == [] and websockets["active_by_route"] == {"/ws/{room}": 0}
    [closed] = websockets["recent"]
    assert (closed["id"], closed["close_code"], closed["initiator"]) == (open_session["id"], 1000, "client")
    assert state.snapshot()["in_flight_counts"] == [] and state.snapshot()["recent"] == []


def test_one_state_per_monitor(registry: CollectorRegistry) -> None:
    first = GatewatchWSGI(ok_wsgi, registry=registry, live_token=TOKEN)
    second = GatewatchASGI(ok_asgi, registry=registry, live_token=TOKEN)
    assert first.monitor is second.monitor
    state = first.runtime.live_state(first.monitor)
    assert second.runtime.live_state(second.monitor) is state
    call(first, make_environ("/a"))
    # Attached once: the request is in the view once.
    assert len(state.snapshot()["recent"]) == 1
    # No shared directory: its own, private, where `gatewatch top` reads it.
    assert state.snapshot_dir is not None and os.path.basename(state.snapshot_dir) == f"pid-{os.getpid()}"
    view = json.loads(live_body(state))
    assert view["schema"] == 1 and [p["pid"] for p in view["processes"]] == [os.getpid()]
