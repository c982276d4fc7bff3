"""The live view: what each process keeps (in flight, recent, per second, loop, WebSockets), the
endpoint that serves it (loopback or token only), its options, and the files merging workers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor, set_route
from gatewatch import live as live_module
from gatewatch.asgi_types import Receive, Scope, Send
from gatewatch.live import LiveState, live_state_for
from gatewatch.live_endpoint import authorize, is_loopback, live_body
from gatewatch.live_snapshot_files import merged_snapshot, snapshot_dir, write_atomically
from gatewatch.options import detect_server
from gatewatch.server_process import ServerProcess, free_port, gunicorn_command, uvicorn_command
from gatewatch.wsgi_types import Environ, StartResponse
from tests.asgi_driver import Exchange, http_scope, serve
from tests.scrape import value
from tests.sinks import BrokenSink
from tests.websocket_driver import Session, disconnect, echo, text, websocket_scope, wrap
from tests.wsgi_driver import call, make_environ

ROOT = Path(__file__).resolve().parents[1]
LIVE = "/_gatewatch/live.json"
DURATION_COUNT = "gatewatch_http_request_duration_seconds_count"
# Values sent with requests that must never reach the live view.
SECRET_QUERY = "q=qu3ry-s3cret"
SECRET_COOKIE = "session=c00kie-s3cret"
SECRET_PATH = "/items/p4th-s3cret"


@pytest.fixture(autouse=True)
def _no_snapshot_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that want snapshot files set the directory themselves."""
    for name in ("GATEWATCH_LIVE_DIR", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        monkeypatch.delenv(name, raising=False)


def ok_wsgi(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


async def ok_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def fetch_asgi(app: GatewatchASGI, path: str = LIVE, **scope: Any) -> Exchange:
    return await serve(app, http_scope(path, **scope))


def only_process(view: dict[str, Any]) -> dict[str, Any]:
    assert view["schema"] == 1
    [process] = view["processes"]
    assert isinstance(process, dict) and process["schema"] == 1
    assert process["pid"] == os.getpid()
    return process


def asgi_view(exchange: Exchange) -> dict[str, Any]:
    assert exchange.status == 200
    return only_process(json.loads(exchange.body))


def wsgi_view(app: GatewatchWSGI, **environ: Any) -> dict[str, Any]:
    response = call(app, make_environ(LIVE, REMOTE_ADDR="127.0.0.1", **environ))
    assert response.status == "200 OK"
    view: dict[str, Any] = json.loads(response.body)
    return only_process(view)


def response_headers(exchange: Exchange) -> dict[bytes, bytes]:
    start = next(m for m in exchange.sent if m["type"] == "http.response.start")
    return dict(start["headers"])


# --- what a process keeps ------------------------------------------------------------------


def test_asgi_request_in_flight_then_recent(registry: CollectorRegistry) -> None:
    async def main() -> tuple[Exchange, Exchange, float, float]:
        release = asyncio.Event()

        async def slow(scope: Scope, receive: Receive, send: Send) -> None:
            set_route("/items/{id}")
            await receive()
            time.sleep(0.02)  # holds the loop: blocking so far
            await release.wait()
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})

        app = GatewatchASGI(slow, registry=registry)
        begun = time.time()
        scope = http_scope(SECRET_PATH, query_string=SECRET_QUERY.encode(),
                           headers=[(b"cookie", SECRET_COOKIE.encode())])
        task = asyncio.create_task(serve(app, scope))
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
    assert set(entry) == {"id", "interface", "method", "route", "age", "blocking", "cpu",
                          "thread_hops", "offload", "view", "view_kind"}
    assert (entry["id"], entry["interface"], entry["method"], entry["route"]) == (1, "asgi", "GET",
                                                                                 "/items/{id}")
    assert entry["age"] >= 0.049  # asyncio may wake a timer up to a clock tick early
    assert 0.02 <= entry["blocking"] < entry["age"]
    assert 0 <= entry["cpu"] <= entry["blocking"]
    assert (entry["thread_hops"], entry["offload"], entry["view"], entry["view_kind"]) == (0, None, None, "")
    assert process["in_flight_unlisted"] == 0
    assert process["in_flight_counts"] == [{"interface": "asgi", "method": "GET", "count": 1}]
    assert process["recent"] == [] and process["per_second"] == []
    # Whatever ASGI server this test process has imported (none, or daphne via channels.testing).
    assert process["servers"] == {"asgi": detect_server("asgi")}

    process = asgi_view(after)
    assert process["in_flight"] == []
    assert process["in_flight_counts"] == [{"interface": "asgi", "method": "GET", "count": 0}]
    [done] = process["recent"]
    assert {k: done[k] for k in ("interface", "method", "route_label", "status_label", "request_bytes",
                                  "response_bytes", "exception_label", "disconnected", "concurrency",
                                  "offload", "thread_hops", "view", "view_kind")} == {
        "interface": "asgi", "method": "GET", "route_label": "/items/{id}", "status_label": "201",
        "request_bytes": 0, "response_bytes": 4, "exception_label": None, "disconnected": False,
        "concurrency": 0, "offload": None, "thread_hops": 0, "view": None, "view_kind": "",
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

    app = GatewatchWSGI(slow, registry=registry)
    environ = make_environ(SECRET_PATH, QUERY_STRING=SECRET_QUERY, HTTP_COOKIE=SECRET_COOKIE)
    worker = threading.Thread(target=call, args=(app, environ))
    worker.start()
    try:
        assert started.wait(5)
        time.sleep(0.02)
        response = call(app, make_environ(LIVE, REMOTE_ADDR="127.0.0.1"))
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

    app = GatewatchWSGI(sized, registry=registry)
    for size in range(205):
        call(app, make_environ(f"/size/{size}"))
    process = wsgi_view(app)
    assert [entry["response_bytes"] for entry in process["recent"]] == list(range(5, 205))
    assert sum(entry["requests"] for entry in process["per_second"]) == 205


def test_per_second_totals_are_exact_and_old_seconds_go(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000.25]
    monkeypatch.setattr(live_module, "time", lambda: clock[0])

    def mixed(environ: Environ, start_response: StartResponse) -> list[bytes]:
        if environ["PATH_INFO"] == "/error":
            raise RuntimeError("boom")
        if environ["PATH_INFO"] == "/busy":
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"busy"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b", b"c"]

    app = GatewatchWSGI(mixed, registry=registry)
    for _ in range(3):
        call(app, make_environ("/ok"))
    for _ in range(2):
        with pytest.raises(RuntimeError):
            call(app, make_environ("/error"))
    call(app, make_environ("/busy"))
    call(app, make_environ("/ok"), stop_after=1)  # the client leaves after one chunk
    clock[0] = 1_000_001.5
    call(app, make_environ("/ok"))

    process = wsgi_view(app)
    first, second = process["per_second"]
    assert {k: first[k] for k in ("second", "interface", "requests", "server_errors", "disconnects",
                                   "exceptions", "concurrency_max")} == {
        "second": 1_000_000, "interface": "wsgi", "requests": 7, "server_errors": 3, "disconnects": 1,
        "exceptions": 2, "concurrency_max": 0,
    }
    # The first seven requests finished in the first second (the ring keeps their order).
    in_first = process["recent"][:7]
    assert [entry["status_label"] for entry in in_first] == ["200"] * 3 + ["500"] * 2 + ["503", "499"]
    assert [entry["exception_label"] for entry in in_first] == [None] * 3 + ["RuntimeError"] * 2 + [None] * 2
    assert first["duration_sum"] == pytest.approx(sum(entry["duration"] for entry in in_first))
    assert first["duration_max"] == max(entry["duration"] for entry in in_first)
    assert first["blocking_sum"] == pytest.approx(sum(entry["blocking"] for entry in in_first))
    assert first["blocking_max"] == max(entry["blocking"] for entry in in_first)
    assert (second["second"], second["requests"], second["server_errors"]) == (1_000_001, 1, 0)

    # 300 s later the first second has left the window; the second one is its last second.
    clock[0] = 1_000_300.0
    assert [s["second"] for s in wsgi_view(app)["per_second"]] == [1_000_001]
    # A request 300 s after the second one reuses its slot.
    clock[0] = 1_000_301.75
    call(app, make_environ("/ok"))
    [latest] = wsgi_view(app)["per_second"]
    assert (latest["second"], latest["requests"]) == (1_000_301, 1)


def test_concurrency_at_arrival_per_second(registry: CollectorRegistry) -> None:
    async def main() -> Exchange:
        release = asyncio.Event()

        async def waits(scope: Scope, receive: Receive, send: Send) -> None:
            await release.wait()
            await ok_asgi(scope, receive, send)

        app = GatewatchASGI(waits, registry=registry)
        tasks = [asyncio.create_task(serve(app, http_scope("/w"))) for _ in range(3)]
        await asyncio.sleep(0.01)
        during = await fetch_asgi(app)
        assert [e["id"] for e in asgi_view(during)["in_flight"]] == [1, 2, 3]
        release.set()
        await asyncio.gather(*tasks)
        return await fetch_asgi(app)

    process = asgi_view(asyncio.run(main()))
    assert sorted(entry["concurrency"] for entry in process["recent"]) == [0, 1, 2]
    assert sum(s["requests"] for s in process["per_second"]) == 3
    assert max(s["concurrency_max"] for s in process["per_second"]) == 2


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


def test_a_sink_failing_first_does_not_leave_requests_in_flight() -> None:
    monitor = Monitor(sinks=(BrokenSink(),))
    state = live_state_for(monitor)
    record = monitor.start("asgi", "GET", "/x")
    with pytest.raises(RuntimeError):
        monitor.finish(record)
    assert state.snapshot()["in_flight"] == []


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
    state = live_state_for(app.monitor)
    seen: list[dict[str, Any]] = []
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
    first = GatewatchWSGI(ok_wsgi, registry=registry)
    second = GatewatchASGI(ok_asgi, registry=registry)
    assert first.monitor is second.monitor
    state = live_state_for(first.monitor)
    assert live_state_for(second.monitor) is state
    call(first, make_environ("/a"))
    # Attached once: the request is in the view once.
    assert len(state.snapshot()["recent"]) == 1
    assert state.snapshot_dir is None
    view = json.loads(live_body(state))
    assert view["schema"] == 1 and [p["pid"] for p in view["processes"]] == [os.getpid()]


# --- who may read it ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.5", False), ("::ffff:10.0.0.5", False), ("2001:db8::1", False), ("0.0.0.0", False),
     ("localhost", False), ("", False), (None, False)],
)
def test_loopback_addresses(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert authorize(host, None, None) is loopback
    assert authorize(host, None, None, forwarded=True) is False


@pytest.mark.parametrize(
    ("host", "authorization", "allowed"),
    [("10.0.0.5", "Bearer s3cret-token", True), ("127.0.0.1", "bearer s3cret-token", True),
     ("10.0.0.5", "Bearer  s3cret-token ", True), ("127.0.0.1", None, False),
     ("127.0.0.1", "Bearer wrong", False), ("10.0.0.5", "Basic s3cret-token", False),
     ("10.0.0.5", "Bearer s3cret-token-longer", False), ("10.0.0.5", "s3cret-token", False),
     ("10.0.0.5", "Bearer s3crét-token", False), (None, "Bearer s3cret-token", True)],
)
def test_token(host: str | None, authorization: str | None, allowed: bool) -> None:
    assert authorize(host, authorization, "s3cret-token") is allowed


@pytest.mark.parametrize(
    ("client", "headers", "status"),
    [(("127.0.0.1", 5000), [], 200), (("::1", 5000, 0, 0), [], 200), (("10.1.2.3", 5000), [], 403),
     (None, [], 403), (("127.0.0.1", 5000), [(b"x-forwarded-for", b"203.0.113.9")], 403),
     (("127.0.0.1", 5000), [(b"forwarded", b"for=203.0.113.9")], 403)],
)
def test_asgi_endpoint_answers_loopback_only(
    registry: CollectorRegistry, client: Any, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry)
    exchange = asyncio.run(fetch_asgi(app, client=client, headers=headers))
    assert exchange.status == status
    if status == 403:
        assert json.loads(exchange.body)["error"].startswith("forbidden")
        assert b"processes" not in exchange.body
    assert response_headers(exchange)[b"cache-control"] == b"no-store"
    assert value(registry, DURATION_COUNT) == 0


@pytest.mark.parametrize(
    ("remote", "extra", "status"),
    [("127.0.0.1", {}, "200 OK"), ("::1", {}, "200 OK"), ("192.168.1.20", {}, "403 Forbidden"),
     (None, {}, "403 Forbidden"), ("127.0.0.1", {"HTTP_X_REAL_IP": "203.0.113.9"}, "403 Forbidden")],
)
def test_wsgi_endpoint_answers_loopback_only(
    registry: CollectorRegistry, remote: str | None, extra: dict[str, str], status: str
) -> None:
    app = GatewatchWSGI(ok_wsgi, registry=registry)
    environ = make_environ(LIVE)
    environ.update(extra)
    environ.pop("REMOTE_ADDR", None)
    if remote is not None:
        environ["REMOTE_ADDR"] = remote
    response = call(validator(app), environ)
    assert response.status == status
    assert dict(response.headers)["Content-Type"] == "application/json"
    assert ("processes" in json.loads(response.body)) is (status == "200 OK")
    assert value(registry, DURATION_COUNT) == 0


def test_token_on_both_middlewares(registry: CollectorRegistry) -> None:
    wsgi_app = validator(GatewatchWSGI(ok_wsgi, registry=registry, live_token="t0ken"))
    asgi_app = GatewatchASGI(ok_asgi, registry=registry, live_token="t0ken")
    cases = [("127.0.0.1", None, 403), ("10.0.0.5", "Bearer t0ken", 200),
             ("10.0.0.5", "Bearer t0ken2", 403), ("127.0.0.1", "Bearer t0ken", 200)]
    for remote, authorization, status in cases:
        environ = make_environ(LIVE, REMOTE_ADDR=remote)
        headers = []
        if authorization is not None:
            environ["HTTP_AUTHORIZATION"] = authorization
            headers.append((b"authorization", authorization.encode()))
        assert int(call(wsgi_app, environ).status[:3]) == status
        exchange = asyncio.run(fetch_asgi(asgi_app, client=(remote, 4000), headers=headers))
        assert exchange.status == status


def test_only_get_and_head(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry)
    posted = asyncio.run(fetch_asgi(app, method="POST"))
    assert posted.status == 405 and response_headers(posted)[b"allow"] == b"GET, HEAD"
    head = asyncio.run(fetch_asgi(app, method="HEAD"))
    assert head.status == 200 and head.body == b""
    assert int(response_headers(head)[b"content-length"]) > 0
    wsgi = GatewatchWSGI(ok_wsgi, registry=CollectorRegistry())
    deleted = call(wsgi, make_environ(LIVE, "DELETE", REMOTE_ADDR="127.0.0.1"))
    assert deleted.status == "405 Method Not Allowed"


# --- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize("middleware", [GatewatchASGI, GatewatchWSGI])
@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"live_path": "live.json"}, ValueError, "live_path must start with '/'"),
        ({"live_path": 5}, TypeError, "live_path must be a str or None"),
        ({"live_path": "/metrics", "metrics_path": "/metrics"}, ValueError, "live_path must differ"),
        ({"metrics_path": LIVE}, ValueError, "live_path must differ"),
        ({"live_token": ""}, ValueError, "live_token must be a non-empty"),
        ({"live_token": "two words"}, ValueError, "live_token must be a non-empty"),
        ({"live_token": "tøken"}, ValueError, "live_token must be a non-empty"),
        ({"live_token": b"bytes"}, TypeError, "live_token must be a str or None"),
        ({"live_token": "t0ken", "live_path": None}, ValueError, "live_token has no effect"),
    ],
)
def test_bad_live_option_names_itself(
    middleware: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    app = ok_asgi if middleware is GatewatchASGI else ok_wsgi
    with pytest.raises(error, match=message):
        middleware(app, registry=CollectorRegistry(), **options)


def test_live_path_none_passes_the_default_path_to_the_app(registry: CollectorRegistry) -> None:
    app = GatewatchWSGI(ok_wsgi, registry=registry, live_path=None)
    assert call(app, make_environ(LIVE, REMOTE_ADDR="127.0.0.1")).body == b"ok"
    assert value(registry, DURATION_COUNT) == 1


def test_custom_live_path(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry, live_path="/ops/live", metrics_path="/metrics")
    assert asgi_view(asyncio.run(fetch_asgi(app, "/ops/live")))["recent"] == []
    assert asyncio.run(fetch_asgi(app, LIVE)).body == b"ok"
    assert asyncio.run(fetch_asgi(app, "/metrics")).status == 200
    assert asgi_view(asyncio.run(fetch_asgi(app, "/ops/live")))["recent"][0]["route_label"] == "<unmatched>"


# --- several worker processes ---------------------------------------------------------------------


def test_snapshot_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GATEWATCH_LIVE_DIR", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    assert snapshot_dir() is None
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    assert snapshot_dir() == str(tmp_path / "prom")
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path / "live"))
    assert snapshot_dir() == str(tmp_path / "live")


def test_stale_dead_and_broken_files_are_skipped(tmp_path: Path) -> None:
    alive = os.getppid()
    path = tmp_path / f"gatewatch-live-{alive}.json"
    snapshot = {"schema": 1, "pid": alive, "time": 1.0}
    write_atomically(str(path), snapshot)
    assert merged_snapshot(str(tmp_path))["processes"] == [snapshot]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    old = time.time() - 6
    os.utime(path, (old, old))
    assert merged_snapshot(str(tmp_path))["processes"] == []

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_atomically(str(tmp_path / f"gatewatch-live-{gone.pid}.json"), {"schema": 1, "pid": gone.pid})
    (tmp_path / "gatewatch-live-broken.json").write_text("{not json")
    (tmp_path / "gatewatch-live-list.json").write_text("[1, 2]")
    assert merged_snapshot(str(tmp_path))["processes"] == []


CHILD = """
import os, sys, time
from gatewatch.live import LiveState
from gatewatch.monitor import Monitor

monitor = Monitor()
state = LiveState(monitor, snapshot_dir=sys.argv[1])
monitor.add_sink(state)
record = monitor.start("wsgi", "GET", "/child/7?q=qu3ry-s3cret")
record.route = "/child/{n}"
record.status = 200
monitor.finish(record)
while state.snapshot_path is None or not os.path.exists(state.snapshot_path):
    time.sleep(0.02)
print(state.snapshot_path, flush=True)
sys.stdin.read()
"""


def test_two_processes_merged_through_their_files(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        child_file = Path(child.stdout.readline().strip())
        assert child_file == tmp_path / f"gatewatch-live-{child.pid}.json"
        monitor = Monitor()
        state = LiveState(monitor, snapshot_dir=str(tmp_path))
        monitor.add_sink(state)
        record = monitor.start("asgi", "POST", "/parent")
        record.route = "/parent"
        monitor.finish(record)
        view = state.view()
        assert view["schema"] == 1
        processes = {process["pid"]: process for process in view["processes"]}
        assert [p["pid"] for p in view["processes"]] == sorted([os.getpid(), child.pid])
        assert [e["route_label"] for e in processes[child.pid]["recent"]] == ["/child/{n}"]
        assert [e["route_label"] for e in processes[os.getpid()]["recent"]] == ["/parent"]
        assert "qu3ry-s3cret" not in child_file.read_text()
        # Read by a third party, both files: this process's is written once its writer has run.
        assert state.snapshot_path is not None
        wait_for_json(Path(state.snapshot_path), lambda s: len(s["recent"]) == 1)
        merged = merged_snapshot(str(tmp_path))
        routes = {p["pid"]: [e["route_label"] for e in p["recent"]] for p in merged["processes"]}
        assert routes == {os.getpid(): ["/parent"], child.pid: ["/child/{n}"]}
        child.stdin.close()
        assert child.wait(10) == 0
        # A worker that exits cleanly takes its file with it.
        assert not child_file.exists()
        assert [p["pid"] for p in state.view()["processes"]] == [os.getpid()]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_writer_starts_with_the_first_request(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path))
    app = GatewatchWSGI(ok_wsgi, registry=registry)
    state = live_state_for(app.monitor)
    assert state.snapshot_dir == str(tmp_path)
    time.sleep(0.6)
    assert state.snapshot_path is None and list(tmp_path.iterdir()) == []
    call(app, make_environ("/first"))
    assert state.snapshot_path is not None
    written = wait_for_json(Path(state.snapshot_path), lambda s: len(s["recent"]) == 1)
    assert written["pid"] == os.getpid()
    # The endpoint serves this process fresh, not its file.
    call(app, make_environ("/second"))
    assert len(wsgi_view(app)["recent"]) == 2


def test_a_forked_child_writes_its_own_file(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path))
    app = GatewatchWSGI(ok_wsgi, registry=registry)
    state = live_state_for(app.monitor)
    call(app, make_environ("/parent"))
    assert state.snapshot_path is not None
    parent_file = Path(state.snapshot_path)
    wait_for_json(parent_file, lambda s: len(s["recent"]) == 1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            code = forked_child(app, state)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child = json.loads((tmp_path / f"gatewatch-live-{pid}.json").read_text())
    assert child["pid"] == pid and len(child["recent"]) == 1
    parent = wait_for_json(parent_file, lambda s: s["pid"] == os.getpid())
    assert len(parent["recent"]) == 1
    # The child is gone: only this process is merged.
    assert [p["pid"] for p in merged_snapshot(str(tmp_path))["processes"]] == [os.getpid()]


def forked_child(app: GatewatchWSGI, state: LiveState) -> int:
    """The child's side of the fork test: 0 when it starts afresh and writes its own file."""
    if state.snapshot()["recent"] or state.snapshot_path is not None:
        return 2  # the parent's requests or writer leaked into the child
    call(app, make_environ("/child"))
    own = Path(state.snapshot_path or "")
    if own.name != f"gatewatch-live-{os.getpid()}.json":
        return 3
    wait_for_json(own, lambda s: len(s["recent"]) == 1)
    return 0


def wait_for_json(path: Path, ready: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found: dict[str, Any] = json.loads(path.read_text())
            if ready(found):
                return found
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} not ready within {timeout}s")
        time.sleep(0.05)


# --- a real server ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_uvicorn_shows_a_slow_request_while_it_runs(tmp_path: Path) -> None:
    port = free_port()
    command = uvicorn_command("examples.starlette_app:wrapped", port)
    with ServerProcess(command, port=port, ready_path="/fast", cwd=ROOT,
                       log_path=tmp_path / "uvicorn.log") as server, \
            httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        result: dict[str, httpx.Response] = {}
        slow = threading.Thread(target=lambda: result.update(
            slow=client.get("/slow", params={"seconds": "1.5", "token": "qu3ry-s3cret"})))
        slow.start()
        try:
            during = poll_live(client, lambda p: bool(p["in_flight"]))
        finally:
            slow.join(10)
        assert result["slow"].status_code == 200
        [entry] = during["in_flight"]
        assert (entry["interface"], entry["method"]) == ("asgi", "GET")
        # Starlette names the route when routing is done; the record learns it at the end.
        assert (entry["route"], entry["view"]) == (None, None)
        assert entry["blocking"] < 0.2 and entry["age"] > 0
        assert during["in_flight_counts"] == [{"interface": "asgi", "method": "GET", "count": 1}]
        assert during["servers"] == {"asgi": "uvicorn"}
        after = poll_live(client, lambda p: not p["in_flight"] and len(p["recent"]) == 2)
        fast, done = after["recent"]
        assert (fast["route_label"], fast["status_label"]) == ("/fast", "200")
        assert (done["route_label"], done["status_label"], done["response_bytes"]) == ("/slow", "200", 5)
        assert 1.5 <= done["duration"] < 5
        # Awaiting leaves the loop free.
        assert done["blocking"] < 0.2
        assert sum(s["requests"] for s in after["per_second"]) == 2
        raw = client.get("/_gatewatch/live.json")
        assert raw.headers["cache-control"] == "no-store"
        assert b"qu3ry-s3cret" not in raw.content


@pytest.mark.slow
def test_gunicorn_workers_are_merged(tmp_path: Path) -> None:
    """Two sync workers, each held by one slow request: whichever answers shows both."""
    port = free_port()
    command = gunicorn_command("examples.flask_app:wrapped", port, "-w", "2")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    (tmp_path / "prom").mkdir()
    with ServerProcess(command, port=port, ready_path="/fast", cwd=ROOT, env=env,
                       log_path=tmp_path / "gunicorn.log") as server, \
            httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        slow = [threading.Thread(target=client.get, args=("/slow?seconds=0.5",)) for _ in range(2)]
        for thread in slow:
            thread.start()
        for thread in slow:
            thread.join(10)

        def both_workers(view: dict[str, Any]) -> bool:
            return sum(len(process["recent"]) for process in view["processes"]) == 3

        view = poll_view(client, both_workers)
        assert len({process["pid"] for process in view["processes"]}) == 2
        routes = sorted(e["route_label"] for process in view["processes"] for e in process["recent"])
        assert routes == ["/fast", "/slow", "/slow"]
        assert {process["servers"]["wsgi"] for process in view["processes"]} == {"gunicorn"}


def poll_view(client: httpx.Client, ready: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/_gatewatch/live.json")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        if ready(view):
            return view
        if time.monotonic() > deadline:
            raise TimeoutError(f"live view never ready: {view}")
        time.sleep(0.05)


def poll_live(client: httpx.Client, ready: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The single process of a one-process server, once ``ready(process)``."""
    view = poll_view(client, lambda view: len(view["processes"]) == 1 and ready(view["processes"][0]),
                     timeout=timeout)
    process: dict[str, Any] = view["processes"][0]
    return process
