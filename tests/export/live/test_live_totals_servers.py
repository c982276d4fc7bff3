"""The live view's totals against ``/metrics`` under real servers: uvicorn, gunicorn's uvicorn
workers (two, the app loaded before the fork) and gunicorn's sync workers (two). After traffic
across routes and statuses, loop blocks and WebSocket sessions, the totals summed over the
processes are the page's numbers: every count and bucket exactly, every sum to float rounding."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client
from websockets.exceptions import InvalidStatus

from gatewatch import catalogue as c
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command, uvicorn_command
from gatewatch.export.live.schema import parse_live_view
from tests.support.live_support import BEARER, TOKEN_ENV
from tests.support.live_totals_app import HOSTILE_ROUTE
from tests.support.scrape import samples
from tests.support.traffic import ROOT, scrape, uvicorn_workers_command

Numbers = dict[tuple[str, ...], float]


def from_metrics(text: str) -> tuple[Numbers, Numbers]:
    """The page's numbers, keyed as :func:`from_live` keys the totals: (counts, sums)."""
    counts: defaultdict[tuple[str, ...], float] = defaultdict(float)
    sums: defaultdict[tuple[str, ...], float] = defaultdict(float)
    name = {
        key: c.metric(key).name for key in ("duration", "concurrency", "queue", "after_response", "loop_lag")
    }
    for (sample, label_set), number in samples(text).items():
        labels = dict(label_set)
        route = (labels.get("interface", ""), labels.get("route", ""), labels.get("status", ""))
        if sample == name["duration"] + "_bucket":
            counts["bucket", *route, labels["le"]] += number
        elif sample == name["duration"] + "_count":
            counts["requests", *route] += number
        elif sample == name["duration"] + "_sum":
            sums["duration", *route] += number
        elif sample == c.metric("route_blocking").name:
            sums["blocking", *route[:2]] += number
        elif sample == c.metric("route_cpu").name:
            sums["cpu", *route[:2]] += number
        elif sample == c.metric("route_cpu_samples").name:
            counts["cpu_samples", *route[:2]] += number
        elif sample == c.metric("route_offload").name:
            sums["offload", *route[:2]] += number
        elif sample == c.metric("saturated").name:
            counts["saturated",] += number
        elif sample == c.metric("loop_blocks").name:
            counts["blocks", labels["route"]] += number
        elif sample == c.metric("loop_blocked").name:
            sums["blocked", labels["route"]] += number
        elif sample == c.metric("websocket_sessions").name:
            counts["sessions", labels["route"], labels["outcome"]] += number
        elif sample == c.metric("websocket_messages").name:
            counts["messages", labels["route"], labels["direction"]] += number
        elif sample == c.metric("websocket_bytes").name:
            counts["bytes", labels["route"], labels["direction"]] += number
        elif sample == name["loop_lag"] + "_bucket":
            counts["lag", labels["le"]] += number
        elif sample == name["loop_lag"] + "_count":
            counts["lag",] += number
        else:
            for key in ("concurrency", "queue", "after_response"):
                if sample == name[key] + "_count":
                    counts[key, labels["interface"]] += number
                elif sample == name[key] + "_sum":
                    sums[key, labels["interface"]] += number
    return dict(counts), dict(sums)


def from_live(view: dict[str, Any]) -> tuple[Numbers, Numbers]:
    """Every process's totals added up, keyed by the page's labels (buckets cumulative)."""
    counts: defaultdict[tuple[str, ...], float] = defaultdict(float)
    sums: defaultdict[tuple[str, ...], float] = defaultdict(float)
    for process in view["processes"]:
        totals = process["totals"]
        bounds = [*map(repr, map(float, totals["duration_bounds"])), "+Inf"]
        for entry in totals["routes"]:
            route = (entry["interface"], entry["route"], entry["status"])
            counts["requests", *route] += entry["requests"]
            running = 0
            for le, count in zip(bounds, entry["duration_buckets"], strict=True):
                running += count
                counts["bucket", *route, le] += running
            sums["duration", *route] += entry["duration_sum"]
            sums["blocking", *route[:2]] += entry["blocking_sum"]
            sums["cpu", *route[:2]] += entry["cpu_sum"]
            counts["cpu_samples", *route[:2]] += entry["cpu_samples"]
            sums["offload", *route[:2]] += entry["offload_sum"]
        for entry in totals["interfaces"]:
            for key in ("concurrency", "queue", "after_response"):
                counts[key, entry["interface"]] += entry[f"{key}_count"]
                sums[key, entry["interface"]] += entry[f"{key}_sum"]
            counts["saturated",] += entry["saturated"]
        for site in totals["block_sites"]:
            counts["blocks", site["route"]] += site["count"]
            sums["blocked", site["route"]] += site["total"]
        for entry in totals["sessions"]:
            counts["sessions", entry["route"], entry["outcome"]] += entry["sessions"]
            for direction in ("received", "sent"):
                counts["messages", entry["route"], direction] += entry[direction]
                counts["bytes", entry["route"], direction] += entry[f"{direction}_bytes"]
        running = 0
        lag_bounds = [*map(repr, map(float, totals["lag_bounds"])), "+Inf"]
        for le, count in zip(lag_bounds, totals["lag_buckets"], strict=True):
            running += count
            counts["lag", le] += running
        counts["lag",] += totals["lag_count"]
    return dict(counts), dict(sums)


def is_lag(key: tuple[str, ...]) -> bool:
    return key[0] == "lag"


def assert_agree(client: httpx.Client, base_url: str, at_least: int) -> tuple[Numbers, dict[str, Any]]:
    """Read the live view, /metrics, and the live view again until nothing but the loop's lag
    moved meanwhile and both have ``at_least`` requests (a WSGI worker finishes a request after
    its client has the response; a worker's file is rewritten every half second), then compare;
    the lag, sampled all the time, lies between the two live readings."""
    deadline = time.monotonic() + 30.0
    while True:
        before = live_view(client)
        page = scrape(base_url)
        # Another worker's part of the view is its file, rewritten every half second: the lag
        # lies between two readings only once every process's is from after the scrape.
        scraped = time.time()
        after = live_view(client)
        while any(process["time"] < scraped for process in after["processes"]):
            time.sleep(0.1)
            after = live_view(client)
        first, second = from_live(before), from_live(after)
        counts, sums = from_metrics(page)
        steady = {k: v for k, v in first[0].items() if not is_lag(k)} == {
            k: v for k, v in second[0].items() if not is_lag(k)
        }
        total = sum(v for k, v in counts.items() if k[0] == "requests")
        if steady and at_least <= total == sum(v for k, v in first[0].items() if k[0] == "requests"):
            live_counts = {k: v for k, v in first[0].items() if not is_lag(k) and v}
            page_counts = {k: v for k, v in counts.items() if not is_lag(k) and v}
            if live_counts == page_counts or time.monotonic() > deadline:
                break
        assert time.monotonic() < deadline, (
            f"never steady: {total} requests on the page, {at_least} sent; live "
            f"{sorted(first[0].items(), key=str)} page {sorted(counts.items(), key=str)}"
        )
        time.sleep(0.2)
    assert live_counts == page_counts
    for key in set(sums) | set(first[1]):
        assert first[1].get(key, 0.0) == pytest.approx(sums.get(key, 0.0), rel=1e-9, abs=1e-12), key
    for key in {k for k in counts if is_lag(k)} | {k for k in first[0] if is_lag(k)}:
        assert first[0].get(key, 0) <= counts.get(key, 0) <= second[0].get(key, 0), key
    return live_counts, before


def live_view(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/_gatewatch/live.json")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    parse_live_view(view)
    return view


def http_traffic(client: httpx.Client, *, asgi: bool) -> int:
    """Requests across routes and statuses, some at once; how many were sent."""
    sent = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        stamped = {"X-Request-Start": f"t={time.time():.3f}"}
        for status in pool.map(
            lambda n: client.get("/fast", headers=stamped if n % 2 else {}).status_code, range(20)
        ):
            assert status == 200
            sent += 1
    for number in range(1, 6):
        assert client.get(f"/items/{number}").status_code == 200
        sent += 1
    for path, status in [("/error", 500)] * 3 + [("/nowhere", 404)] * 2 + [("/slow?seconds=0.01", 200)] * 2:
        # A server may close the connection of a request whose app raised: none is reused.
        assert client.get(path, headers={"Connection": "close"}).status_code == status
        sent += 1
    for _ in range(2):
        assert client.post("/echo", content=b"x" * 1000).status_code == 200
        sent += 1
    if asgi:
        for path, status in [("/hostile", 200)] * 3 + [
            ("/hostile?status=503", 503),
            ("/blocking?seconds=0.08", 200),
        ] * 3:
            assert client.get(path).status_code == status
            sent += 1
    return sent


def websocket_traffic(base_url: str) -> None:
    url = base_url.replace("http://", "ws://")
    with websockets.sync.client.connect(url + "/ws/echo") as session:
        for text in ("one", "two", "three"):
            session.send(text)
            assert session.recv() == text
        session.send(b"\x00" * 10)
        assert session.recv() == b"\x00" * 10
    with pytest.raises(InvalidStatus):
        websockets.sync.client.connect(url + "/ws/reject").close()


def wait_for(client: httpx.Client, ready: Callable[[Numbers], bool]) -> None:
    deadline = time.monotonic() + 20.0
    while not ready(from_live(live_view(client))[0]):
        assert time.monotonic() < deadline, "the live view never showed it"
        time.sleep(0.1)


def check_asgi(server: ServerProcess, processes: int) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10.0, headers=BEARER) as client:
        sent = http_traffic(client, asgi=True)
        websocket_traffic(server.base_url)
        wait_for(client, lambda counts: counts.get(("sessions", "/ws/reject", "rejected"), 0) >= 1)
        counts, view = assert_agree(client, server.base_url, sent)
    assert len(view["processes"]) == processes
    assert counts["blocks", "/blocking"] == 3
    assert (
        counts["requests", "asgi", HOSTILE_ROUTE, "503"]
        == 3
        == counts["requests", "asgi", HOSTILE_ROUTE, "200"]
    )
    assert counts["sessions", "/ws/echo", "accepted"] == 1
    assert counts["messages", "/ws/echo", "received"] == 4 and counts["bytes", "/ws/echo", "sent"] == 21
    sites = [
        site for p in view["processes"] for site in p["totals"]["block_sites"] if site["route"] == "/blocking"
    ]
    for site in sites:
        assert len(site["recent"]) == site["count"]
        if site["site"]:
            # The stack opens on the app's own frame; the server's and Starlette's are above it.
            assert "examples/starlette_app.py" in site["site"] and " in blocking" in site["site"]
            assert site["stack"][0].startswith(site["site"])
            assert any("starlette" in frame for frame in site["outer_stack"])


# No connection kept alive: each request is a new connection, which either worker may accept.
ONE_SHOT = httpx.Limits(max_keepalive_connections=0)


@pytest.mark.slow
def test_uvicorn_totals_are_the_metrics_page(tmp_path: Path) -> None:
    port = free_port()
    command = uvicorn_command("tests.support.live_totals_app:asgi", port)
    with ServerProcess(
        command, port=port, ready_path="/fast", cwd=ROOT, env=TOKEN_ENV, log_path=tmp_path / "uvicorn.log"
    ) as server:
        check_asgi(server, processes=1)


@pytest.mark.slow
def test_gunicorn_uvicorn_workers_totals_are_the_metrics_page(tmp_path: Path) -> None:
    """Two workers forked from an arbiter that loaded the app (--preload): each counts from its
    fork, as its own files do."""
    (tmp_path / "prom").mkdir()
    port = free_port()
    command = [*uvicorn_workers_command("tests.support.live_totals_app:asgi", port, tmp_path), "--preload"]
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), **TOKEN_ENV}
    with ServerProcess(
        command, port=port, ready_path="/fast", cwd=ROOT, env=env, log_path=tmp_path / "gunicorn.log"
    ) as server:
        # Both workers must have served (and written their files) for the view to hold both.
        with httpx.Client(base_url=server.base_url, timeout=10.0, headers=BEARER) as client:
            deadline = time.monotonic() + 30.0
            while len(live_view(client)["processes"]) < 2:
                assert time.monotonic() < deadline, "the second worker never served"
                # A worker holding its loop accepts no connection: the other one does. New
                # connections each time: kept-alive ones stay with the worker that took them.
                with (
                    httpx.Client(base_url=server.base_url, timeout=10.0, limits=ONE_SHOT) as fresh,
                    ThreadPoolExecutor(max_workers=4) as pool,
                ):
                    list(pool.map(lambda _: fresh.get("/blocking?seconds=0.03"), range(8)))
            warm_up = sum(
                entry["requests"] for p in live_view(client)["processes"] for entry in p["totals"]["routes"]
            )
        check_asgi_after(server, warm_up)


def check_asgi_after(server: ServerProcess, warm_up: int) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10.0, headers=BEARER) as client:
        sent = http_traffic(client, asgi=True)
        websocket_traffic(server.base_url)
        wait_for(client, lambda counts: counts.get(("sessions", "/ws/reject", "rejected"), 0) >= 1)
        counts, view = assert_agree(client, server.base_url, sent + warm_up)
    assert len(view["processes"]) == 2
    # The warm-up's 30 ms may have been longer than the block threshold on a busy machine.
    assert counts["blocks", "/blocking"] >= 3
    for process in view["processes"]:
        assert process["totals"]["started"] <= process["time"]


@pytest.mark.slow
def test_gunicorn_sync_workers_totals_are_the_metrics_page(tmp_path: Path) -> None:
    (tmp_path / "prom").mkdir()
    port = free_port()
    command = gunicorn_command("examples.flask_app:wrapped", port, "-w", "2")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), **TOKEN_ENV}
    with (
        ServerProcess(
            command, port=port, ready_path="/fast", cwd=ROOT, env=env, log_path=tmp_path / "gunicorn.log"
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0, headers=BEARER) as client,
    ):
        sent = http_traffic(client, asgi=False)
        counts, view = assert_agree(client, server.base_url, sent)
    assert counts["queue", "wsgi"] == 10
    # One thread per sync worker: every request took its worker's last free one.
    assert counts["saturated",] == sum(v for k, v in counts.items() if k[0] == "requests")
    assert counts["requests", "wsgi", "/error", "500"] == 3
    assert all(not process["totals"]["block_sites"] for process in view["processes"])
