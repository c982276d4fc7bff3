"""Under real uvicorn (``--root-path``, as behind a proxy): a route label is the framework's full
template under every Starlette and FastAPI router shape, and no raw path reaches /metrics, the
live view's in-flight requests or the span names (issue 26: ``Mount("/t/{tenant}")`` labelled
each tenant's requests with their raw path)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from gatewatch.demo.servers import ServerProcess, free_port, uvicorn_command
from tests.support.live_support import BEARER, TOKEN_ENV
from tests.support.scrape import label_values, value
from tests.support.traffic import ROOT

pytestmark = pytest.mark.slow

LIVE = "/_gatewatch/live.json"
COUNT = "gatewatch_http_request_duration_seconds_count"
TENANTS = [f"customer-{n}@example.com" for n in range(25)]

# (path, Host header or None, the label it must be counted under); every "raw-" piece and
# 987654 come from the client and must be found nowhere.
SHAPES: dict[str, list[tuple[str, str | None, str]]] = {
    "starlette": [
        ("/n/raw-a/m/987654/leaf/raw-c", None, "/n/{a}/m/{b:int}/leaf/{c}"),
        ("/a/items", None, "/a/items"),
        ("/b/raw-b/items", None, "/b/{x}/items"),
        ("/static/route_shapes_apps.py", None, "/static/{path}"),
        ("/sub/raw-k/r/raw-z", None, "/sub/{k}/r/{z}"),
        ("/home", "raw-host.example.com", "{sub}.example.com/home"),
        ("/t/raw-t/nothing", None, "<unmatched>"),
    ],
    "fastapi": [
        ("/t/raw-t/plain", None, "/t/{tenant}/plain"),
        ("/t/raw-t/m/q", None, "/t/{tenant}/m/q"),
        ("/t/raw-t/d/raw-d/x", None, "/t/{tenant}/d/{d}/x"),
        ("/u/items", None, "/u/items"),
        ("/sub/raw-k/s/raw-q", None, "/sub/{k}/s/{q}"),
    ],
}
RAW = ("customer-", "raw-", "987654")


@pytest.fixture(scope="module", params=["starlette", "fastapi"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, ServerProcess]]:
    port = free_port()
    app = f"tests.support.route_shapes_apps:{request.param}_app"
    command = uvicorn_command(app, port, "--root-path", "/shop")
    with ServerProcess(command, port=port, ready_path="/metrics", env=TOKEN_ENV, cwd=ROOT) as running:
        yield request.param, running


def in_flight(client: httpx.Client) -> tuple[list[dict[str, Any]], str]:
    response = client.get(LIVE, headers=BEARER)
    assert response.status_code == 200
    [process] = response.json()["processes"]
    return process["in_flight"], response.text


def assert_no_raw_path(text: str) -> None:
    for raw in RAW:
        assert raw not in text


def test_25_tenants_are_one_label_everywhere(server: tuple[str, ServerProcess]) -> None:
    _, running = server
    with httpx.Client(base_url=running.base_url, timeout=30) as client:
        with ThreadPoolExecutor(len(TENANTS)) as pool:
            held = [pool.submit(client.get, f"/t/{tenant}/items", params={"hold": "1"}) for tenant in TENANTS]
            # Every request in flight and routed: the live view names them while they wait.
            deadline = time.monotonic() + 30
            while True:
                entries, live_text = in_flight(client)
                routed = [entry for entry in entries if entry["route"] is not None]
                if len(routed) == len(TENANTS) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            client.get("/release")
            statuses = [future.result().status_code for future in held]
        assert statuses == [200] * len(TENANTS)
        assert [entry["route"] for entry in routed] == ["/t/{tenant}/items"] * len(TENANTS)
        assert_no_raw_path(live_text)

        # Recorded when each app returns, which may come just after its client has the response.
        deadline = time.monotonic() + 20
        metrics = client.get("/metrics").text
        while value(metrics, COUNT, route="/t/{tenant}/items") < len(TENANTS) and time.monotonic() < deadline:
            time.sleep(0.05)
            metrics = client.get("/metrics").text
        assert value(metrics, COUNT, route="/t/{tenant}/items") == len(TENANTS)
        assert "<other>" not in label_values(metrics, COUNT, "route")
        assert_no_raw_path(metrics)

        # A span's name is "{method} {route}" (kept in memory in the server, listed by the app).
        spans = [span for span in client.get("/_spans").json() if span["route"] == "/t/{tenant}/items"]
        assert [span["name"] for span in spans] == ["GET /t/{tenant}/items"] * len(TENANTS)
        assert_no_raw_path(str([(span["name"], span["route"]) for span in client.get("/_spans").json()]))
        assert_no_raw_path(client.get(LIVE, headers=BEARER).text)


def test_every_router_shape_is_named_by_its_template(server: tuple[str, ServerProcess]) -> None:
    kind, running = server
    with httpx.Client(base_url=running.base_url, timeout=30) as client:
        for path, host, _ in SHAPES[kind]:
            headers = {"Host": host} if host is not None else {}
            client.get(path, headers=headers)

        def recorded() -> tuple[str, list[str]]:
            return client.get("/metrics").text, [span["name"] for span in client.get("/_spans").json()]

        # An ASGI request is recorded when its app returns, which may come after the client has
        # the last byte (StaticFiles closes its file in a thread): poll, with a deadline.
        deadline = time.monotonic() + 20
        metrics, names = recorded()
        while time.monotonic() < deadline and not all(
            value(metrics, COUNT, route=label) >= 1 for _, _, label in SHAPES[kind]
        ):
            time.sleep(0.05)
            metrics, names = recorded()
        live = client.get(LIVE, headers=BEARER).text
        assert '"processes"' in live
    for path, _, label in SHAPES[kind]:
        assert value(metrics, COUNT, route=label) >= 1, (path, label)
        if label != "<unmatched>":
            assert f"GET {label}" in names
    assert "<other>" not in label_values(metrics, COUNT, "route")
    assert_no_raw_path(metrics)
    assert_no_raw_path(str(names))
    assert_no_raw_path(live)
