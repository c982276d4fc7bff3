"""End to end: the example Starlette app under uvicorn, traffic from the test, and the dashboard
(headless, ``run_test``) reading the server's snapshot in the local owner-only directory, as
``gatewatch top`` with no URL does (no HTTP, no token), showing that traffic and what an
in-flight request awaits now."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.sources import DirectorySource

from gatewatch.demo.servers import ServerProcess, free_port, uvicorn_command
from gatewatch.export.live.local_dir import local_roots, server_dirs
from gatewatch.export.prometheus.scrape_summary import histogram, parse, route_summaries
from gatewatch.queries import series
from tests.support.dashboard_support import SIZE, screen_text
from tests.support.traffic import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.anyio
async def test_top_shows_a_real_servers_traffic_and_an_awaited_frame(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(
        uvicorn_command("examples.starlette_app:wrapped", port),
        port=port,
        ready_path="/metrics",
        cwd=ROOT,
        log_path=tmp_path / "uvicorn.log",
    )
    # One process, its own live view: no snapshot directory inherited from the caller.
    for name in ("GATEWATCH_LIVE_DIR", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        server.env.pop(name, None)
    with server:
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(12):
                assert client.get("/fast").status_code == 200
        slow = threading.Thread(
            target=httpx.get, args=(server.base_url + "/slow?seconds=4",), kwargs={"timeout": 30}
        )
        slow.start()
        try:
            # What `gatewatch top` finds with no URL: this server's directory among the user's.
            directory = os.path.join(local_roots()[0], f"pid-{server.pid}")
            deadline = time.monotonic() + 10
            while directory not in server_dirs() and time.monotonic() < deadline:
                time.sleep(0.05)  # its writer starts with its first request, writes every 0.5 s
            assert directory in server_dirs()
            app = TopApp([DirectorySource(directory)], poll=False)
            async with app.run_test(size=SIZE) as pilot:
                for _ in range(80):
                    await app.poll_once()
                    await pilot.pause()
                    [reading] = app.readings
                    if reading.view and any(p["in_flight"] for p in reading.view["processes"]):
                        break
                    await pilot.pause(0.05)
                [reading] = app.readings
                assert reading.error is None
                assert "ASGI uvicorn" in screen_text(app)
                await pilot.press("4")
                # Since start: the process's counts, as its /metrics has them.
                while app.window.seconds is not None:
                    await pilot.press("w")
                [figures] = app.figures
                routes = {row.route: row for row in figures.routes}
                assert routes["/fast"].requests == 12
                text = screen_text(app)
                assert "/fast" in text and "since start (" in text
                # Every count and percentile the same as the process's /metrics page has them
                # (bar /metrics itself, and /slow, which may end between the two reads).
                page = parse(httpx.get(server.base_url + "/metrics", timeout=10).text)
                later = ["/metrics", "/slow"]
                on_page = route_summaries(page, "asgi", exclude_routes=later)
                assert {route: row.requests for route, row in routes.items() if route not in later} == {
                    route: int(summary.requests) for route, summary in on_page.items()
                }
                spread = histogram(page, series("duration"), interface="asgi", route="/fast")
                assert (routes["/fast"].p50, routes["/fast"].p99) == (
                    spread.quantile(0.5),
                    spread.quantile(0.99),
                )
                await pilot.press("2")
                text = screen_text(app)
                [line] = [line for line in text.splitlines() if "/slow" in line]
                # anyio.sleep -> asyncio.sleep: the innermost frame of the request's await chain.
                assert "sleep" in line and "asyncio" in line, line
        finally:
            slow.join(timeout=30)
