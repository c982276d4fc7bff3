"""The example Django project under real servers on 127.0.0.1: gunicorn (WSGI, two workers,
multiprocess) and uvicorn (ASGI, with Channels WebSockets), each wrapped by the outer
middleware with GatewatchMiddleware inside, exactly as ``wsgi.py`` / ``asgi.py`` ship.

Counts are exact per route template and status; ``/metrics`` (the scrapes themselves)
and ``/health/`` (the ready probe, once) are part of the accounting.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import websockets

from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command, uvicorn_command
from tests.support.django_support import HOPS, OFFLOAD_COUNT, ROUTE_OFFLOAD, by_route, views
from tests.support.scrape import value
from tests.support.traffic import (
    ROOT,
    Call,
    Key,
    duration_counts,
    gunicorn_config,
    in_flight_values,
    scrape_until,
)
from tests.support.websocket_driver import CLOSES, MESSAGES, SESSIONS

pytestmark = pytest.mark.slow

ITEM = "/items/<int:pk>/"
ECHO = "/ws/echo/"
ROOM = "/ws/broadcast/<slug:room>/"
BLOCKING_SUM = "gatewatch_http_route_blocking_seconds_total"
EXCEPTIONS = "gatewatch_http_exceptions_total"


def traffic_mix(*, asgi: bool, seed: int = 5) -> list[Call]:
    calls = [Call("GET", "/sync/", "/sync/", 200)] * 10
    calls += [Call("GET", "/async/", "/async/", 200)] * 8
    calls += [Call("GET", f"/items/{n}/", ITEM, 200) for n in range(8)]
    calls += [Call("GET", "/slow-sync/?seconds=0.15", "/slow-sync/", 200)] * 4
    calls += [Call("GET", "/stream/?chunks=3", "/stream/", 200)] * 4
    calls += [Call("GET", "/error/", "/error/", 500)] * 3
    calls += [Call("GET", "/nope/", "<unmatched>", 404)] * 3
    if asgi:
        calls += [Call("GET", "/blocking-async/?seconds=0.05", "/blocking-async/", 200)] * 2
    random.Random(seed).shuffle(calls)
    return calls


def drive(base_url: str, calls: list[Call]) -> None:
    def send(call: Call) -> None:
        response = client.request(call.method, call.path)
        assert response.status_code == call.status, (call, response.text[:200])

    with httpx.Client(base_url=base_url, timeout=10.0) as client, ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(send, call) for call in calls]:
            future.result()


def expected_counts(calls: list[Call]) -> dict[Key, int]:
    expected = Counter(call.key for call in calls)
    expected[("GET", "/health/", "200")] += 1  # ServerProcess's ready probe
    return dict(expected)


def without_scrapes(counts: dict[Key, int]) -> dict[Key, int]:
    return {key: n for key, n in counts.items() if key[1] != "/metrics"}


def settle(base_url: str, interface: str, expected: dict[Key, int]) -> str:
    def settled(text: str) -> bool:
        counts = without_scrapes(duration_counts(text, interface))
        # The scrape answering is itself in flight.
        return counts == expected and sum(in_flight_values(text)) <= 1

    return scrape_until(base_url, settled)


def test_gunicorn_two_workers(tmp_path: Path) -> None:
    multiproc_dir = tmp_path / "multiproc"
    multiproc_dir.mkdir()
    config = gunicorn_config(tmp_path)
    calls = traffic_mix(asgi=False)
    port = free_port()
    command = gunicorn_command("examples.django_project.wsgi:application", port, "-w", "2", "-c", str(config))
    env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    with ServerProcess(
        command, port=port, ready_path="/health/", env=env, cwd=ROOT, log_path=tmp_path / "gunicorn.log"
    ) as server:
        drive(server.base_url, calls)
        expected = expected_counts(calls)
        text = settle(server.base_url, "wsgi", expected)

    # Counted once each (outer GatewatchWSGI + GatewatchMiddleware), per route template.
    assert without_scrapes(duration_counts(text, "wsgi")) == expected
    assert value(text, EXCEPTIONS, interface="wsgi", route="/error/", exception="RuntimeError") == 3
    # Every route's hand-offs are tracked: each has its total (0 here), and every request counts.
    assert set(by_route(text, ROUTE_OFFLOAD, "wsgi")) >= {route for _, route, _ in expected}
    assert value(text, OFFLOAD_COUNT, interface="wsgi") >= sum(expected.values())
    # Under WSGI sync code runs on the worker itself: no time in hand-offs.
    assert value(text, ROUTE_OFFLOAD) == 0
    hops = by_route(text, HOPS, "wsgi")
    assert hops.get("/sync/", 0) == 0
    # An async view under WSGI: Django runs it through async_to_sync, once per request.
    assert hops["/async/"] == 8
    assert views(text)["/async/"] == ("examples.django_project.views.async_view", "async")
    assert value(text, "gatewatch_info", interface="wsgi", server="gunicorn") == 1


async def websocket_sessions(base_url: str) -> None:
    ws_url = base_url.replace("http://", "ws://")
    for _ in range(3):
        async with websockets.connect(ws_url + "/ws/echo/") as echo:
            await echo.send("one")
            assert await echo.recv() == "one"
            await echo.send(b"\x00\x01\x02")
            assert await echo.recv() == b"\x00\x01\x02"
    room = [await websockets.connect(ws_url + "/ws/broadcast/lobby/") for _ in range(3)]
    await room[0].send("hello")
    await room[0].send("again")
    for member in room:
        assert [await member.recv(), await member.recv()] == ["hello", "again"]
    for member in room:
        await member.close()


def test_uvicorn_http_and_channels_websockets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    calls = traffic_mix(asgi=True)
    port = free_port()
    command = uvicorn_command("examples.django_project.asgi:application", port)
    with ServerProcess(
        command, port=port, ready_path="/health/", cwd=ROOT, log_path=tmp_path / "uvicorn.log"
    ) as server:
        drive(server.base_url, calls)
        asyncio.run(websocket_sessions(server.base_url))
        expected = expected_counts(calls)

        def sessions_done(text: str) -> bool:
            return value(text, "gatewatch_websocket_sessions_active") == 0 and value(text, CLOSES) == 6

        settle(server.base_url, "asgi", expected)
        text = scrape_until(server.base_url, sessions_done)

    assert without_scrapes(duration_counts(text, "asgi")) == expected
    assert value(text, EXCEPTIONS, interface="asgi", route="/error/", exception="RuntimeError") == 3
    offload = by_route(text, ROUTE_OFFLOAD, "asgi")
    hops = by_route(text, HOPS, "asgi")
    # Sync views run in a thread under ASGI: time and one more hand-off per request.
    assert offload["/sync/"] > 0
    assert offload["/slow-sync/"] >= 4 * 0.15
    assert hops["/sync/"] / 10 == hops["/async/"] / 8 + 1
    # The blocking async view held the loop; the sync one that slept did so in a thread.
    blocking = by_route(text, BLOCKING_SUM, "asgi")
    assert blocking["/blocking-async/"] >= 2 * 0.05
    # Compared with the time those requests spent in the thread (counting it would make it all
    # of it), not with a 20 ms window four requests' loop work can exceed on a loaded machine.
    assert blocking["/slow-sync/"] < offload["/slow-sync/"] / 2
    # Channels sessions, by URLRouter pattern.
    assert value(text, SESSIONS, route=ECHO, outcome="accepted") == 3
    assert value(text, SESSIONS, route=ROOM, outcome="accepted") == 3
    assert value(text, MESSAGES, route=ECHO, direction="received") == 6
    assert value(text, MESSAGES, route=ECHO, direction="sent", kind="binary") == 3
    assert value(text, MESSAGES, route=ROOM, direction="received", kind="text") == 2
    assert value(text, MESSAGES, route=ROOM, direction="sent", kind="text") == 6
    assert value(text, CLOSES, code="1000", initiator="client") == 6
    assert "lobby" not in text
    assert value(text, "gatewatch_info", interface="asgi", server="uvicorn") == 1


def test_uvicorn_with_a_sync_only_middleware(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The common mistake: one sync-only middleware puts the whole chain in threads."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    command = uvicorn_command("examples.django_project.asgi:application", port)
    log = tmp_path / "uvicorn.log"
    with ServerProcess(
        command,
        port=port,
        ready_path="/health/",
        cwd=ROOT,
        log_path=log,
        env={"EXAMPLE_SYNC_MIDDLEWARE": "1"},
    ) as server:
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(5):
                response = client.get("/async/")
                assert response.headers["X-Legacy"] == "1"
        text = settle(server.base_url, "asgi", {("GET", "/async/", "200"): 5, ("GET", "/health/", "200"): 1})
    assert "gatewatch.W002" in log.read_text()
    assert "LegacyHeaderMiddleware" in log.read_text()
    # Into a thread for the chain, back to the loop for the async view, and Django's own.
    hops = by_route(text, HOPS, "asgi")["/async/"] / 5
    offload = by_route(text, ROUTE_OFFLOAD, "asgi")["/async/"]
    assert hops >= 4
    assert offload > 0


def test_uvicorn_work_after_the_response_is_not_the_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django's response.close() hop runs in a thread after the client has the last byte:
    strictly sequential requests never see another in flight, offload stays within the
    duration, and the close hop is after-response time."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    command = uvicorn_command("examples.django_project.asgi:application", port)
    # After-response time per route is a histogram of its own with series="full".
    env = {"GATEWATCH_SERIES": "full"}
    with ServerProcess(
        command, port=port, ready_path="/health/", env=env, cwd=ROOT, log_path=tmp_path / "uvicorn.log"
    ) as server:
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(20):
                assert client.get("/sync/").status_code == 200
                assert client.get("/async/").status_code == 200
        text = settle(
            server.base_url,
            "asgi",
            {("GET", "/sync/", "200"): 20, ("GET", "/async/", "200"): 20, ("GET", "/health/", "200"): 1},
        )
    # Every arrival found nothing else in flight (the scrapes came after, one at a time).
    assert value(text, "gatewatch_http_concurrency_at_arrival_sum", interface="asgi") == 0
    for route in ("/sync/", "/async/"):
        duration = value(text, "gatewatch_http_request_duration_seconds_sum", route=route)
        assert 0 < by_route(text, ROUTE_OFFLOAD, "asgi")[route] <= duration
        after = "gatewatch_http_request_after_response_seconds"
        assert value(text, after + "_count", route=route) == 20
        assert value(text, after + "_sum", route=route) > 0
