"""``gatewatch top``: every tab on the recorded live views (no network), the keys, the command,
and the snapshots of each tab; its sources apart (test_dashboard_sources.py)."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import subprocess
import sys

import pytest
from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.detail_rows import sort_routes
from gatewatch_dashboard.figures import DEFAULT_WINDOW
from gatewatch_dashboard.live_reading import live_reading
from gatewatch_dashboard.model import HOLDING_LOOP
from gatewatch_dashboard.sources import RecordedSource
from gatewatch_dashboard.window import ReadingLog
from textual.widgets import DataTable

from gatewatch.export.live.schema import parse_live_view
from tests.support.dashboard_support import (
    ASGI_SOURCE,
    SIZE,
    WSGI_SOURCE,
    read_twice,
    recorded_app,
    recorded_sources,
    rows,
    screen_text,
    started,
)
from tests.support.live_fixtures import (
    ASGI_FILE,
    ASGI_LATER_FILE,
    HOSTILE_ROUTE,
    HOSTILE_SESSION_ROUTE,
    NOW,
    WSGI_FILE,
    WSGI_LATER_FILE,
)
from tests.support.traffic import ROOT

DOCS = ROOT / "docs"


# -- the model ---------------------------------------------------------------------------


def test_the_recorded_views_give_the_expected_numbers() -> None:
    """A live view gives its gauges and its counters; the window gives the rest: here the 30 s
    between the recorded views and the same 30 s later."""
    log = ReadingLog()
    asgi = [live_reading("a", parse_live_view(path.read_bytes())) for path in (ASGI_FILE, ASGI_LATER_FILE)]
    [stats] = asgi[0].interfaces
    assert (stats.interface, stats.server, stats.in_flight, stats.processes) == ("asgi", "uvicorn", 3, 1)
    assert stats.lag == 0.0011 and stats.rate is None  # a gauge as read; rates need a window
    assert [one.key for one in asgi[0].counters] == ["4242"] and asgi[0].at == NOW
    for reading in asgi:
        log.add(reading)
    [figures] = log.figures(asgi[-1:], DEFAULT_WINDOW)
    assert figures.span.text() == "last 60 s (30 s so far)"
    [stats] = figures.interfaces
    assert stats.rate == pytest.approx((1550 + 100 + 15 + 2 + 12) / 30)
    assert stats.error_rate == 0.0  # /error's 25 were all before the window
    assert stats.concurrency == 9.0 and 0.05 < (stats.lag_p99 or 0) <= 0.1
    routes = {row.route: row for row in figures.routes}
    assert {route: row.requests for route, row in routes.items()} == {
        "/fast": 1550,
        "/slow": 100,
        "/blocking": 15,
        "<unmatched>": 2,
        HOSTILE_ROUTE: 12,
    }
    assert [row.route for row in sort_routes(figures.routes, "p95")][:2] == ["/blocking", "/slow"]
    assert [row.route for row in sort_routes(figures.routes, "rate", "SLO")] == ["/slow"]
    wsgi = [live_reading("w", parse_live_view(path.read_bytes())) for path in (WSGI_FILE, WSGI_LATER_FILE)]
    for reading in wsgi:
        log.add(reading)
    [figures] = log.figures(wsgi[-1:], DEFAULT_WINDOW)
    [stats] = figures.interfaces
    assert (stats.busy, stats.capacity, stats.blocking_share, stats.saturated) == (2, 2, 1.0, 125)
    assert stats.queue == pytest.approx(0.21)
    assert all(worker.is_saturated for worker in figures.workers)
    assert [worker.saturated for worker in figures.workers] == [60, 65]


# -- each tab ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_overview_shows_each_interface_side_by_side() -> None:
    """The numbers of the 30 s between the two recorded views, as helper C's cards write them
    (this test passes once the Overview of issue 29 is merged)."""
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await read_twice(pilot)
        text = screen_text(app)
        assert f"ASGI uvicorn  {ASGI_SOURCE}" in text and f"WSGI gunicorn  {WSGI_SOURCE}" in text
        assert "live · poll 2 · last 60 s (30 s so far)" in text
        assert "1.8 / 37.9 / 84.7 ms" in text  # ASGI p50 / p95 / p99, from the buckets
        assert "1.1 / 87.5 ms" in text  # loop lag now / p99
        assert re.search(r"in flight at arrival \(mean\) +9\.0 ", text)
        assert "2 / 2" in text and "210.0 ms" in text  # WSGI workers busy, queue time
        assert "100%" in text  # WSGI: every request holds its worker throughout


@pytest.mark.anyio
async def test_in_flight_lists_the_oldest_first_with_what_each_awaits() -> None:
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("2")
        listed = rows(app)
        assert [row[4] for row in listed] == [
            "/ws/echo",
            "/ws/echo",
            "/slow",
            "/stream",
            "/stream",
            "/blocking",
            "/slow",
        ]
        ages = [row[5] for row in listed]
        assert ages[0] == "12.0 s" and ages[-1] == "40.0 ms"
        stream = next(row for row in listed if row[4] == "/stream" and row[2] == "asgi")
        assert stream[9] == "stream.<locals>.body  examples/starlette_app.py:64"
        assert listed[-1][9] == "sleep  _backends/_asyncio.py:2510"
        # The request holding the loop stands out.
        table = app.query_one("#in-flight DataTable", DataTable)
        route_cell = table.get_row_at(5)[4]
        assert getattr(route_cell, "style", "") == "bold red" and HOLDING_LOOP <= 0.12
        assert "1 holding the loop" in screen_text(app)


@pytest.mark.anyio
async def test_websockets_tab_counts_sessions_and_refusals() -> None:
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await read_twice(pilot)
        await pilot.press("3")
        text = screen_text(app)
        assert "last 60 s (30 s so far): 3 sessions ended accepted, 0 refused, 0 failed" in text
        assert "now: 2 open (28.7 msg/s)" in text
        assert [row[3] for row in rows(app, "#ws-open")] == ["/ws/echo", "/ws/echo"]
        closed = rows(app, "#ws-closed")
        assert [(row[2], row[3], row[6], row[7]) for row in closed] == [
            ("/ws/reject", "rejected", "1008", "server"),
            ("/ws/echo", "accepted", "1000", "client"),
        ]
        while app.window.seconds is not None:
            await pilot.press("w")
        # Since start: the sessions each process counted (the /ws/reject ones among them).
        assert (
            f"since start (10 min 30 s on {ASGI_SOURCE}, 5 min 30 s on {WSGI_SOURCE}): "
            "10 sessions ended accepted, 3 refused, 0 failed"
        ) in screen_text(app)
        assert HOSTILE_SESSION_ROUTE not in screen_text(app)  # counted, never listed as a row here


@pytest.mark.anyio
async def test_routes_sort_and_filter_keys() -> None:
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await read_twice(pilot)
        await pilot.press("4")
        # The 30 s between the two views: asgi /fast 1550 requests, wsgi /slow 60 on each worker.
        assert [(row[1], row[2], row[3], row[4]) for row in rows(app)][:3] == [
            ("asgi", "/fast", "1,550", "51.7"),
            ("wsgi", "/slow", "120", "4.0"),
            ("asgi", "/slow", "100", "3.3"),
        ]
        await pilot.press("s")  # p95
        assert app.sort_key == "p95"
        assert next(row[2] for row in rows(app)) == "/blocking"
        assert rows(app)[0][6] == "97.5 ms"  # histogram_quantile over the buckets, as PromQL
        await pilot.press("slash", *"slow", "enter")
        assert app.route_filter == "slow"
        assert {row[2] for row in rows(app)} == {"/slow"}
        assert len(rows(app)) == 2  # on both servers
        await pilot.press("escape")
        # /error had no request in the window: no row; a route new in it has one.
        assert app.route_filter == "" and len(rows(app)) == 7
        assert "/error" not in {row[2] for row in rows(app)}


@pytest.mark.anyio
async def test_workers_tab_shows_saturated_processes() -> None:
    app = recorded_app()
    async with app.run_test(size=SIZE) as pilot:
        await read_twice(pilot)
        await pilot.press("6")
        listed = rows(app)
        assert [(row[1], row[3], row[4], row[5]) for row in listed] == [
            ("4242", "-", "-", "-"),
            ("5001", "1 / 1", "yes", "60"),
            ("5002", "1 / 1", "yes", "65"),
        ]
        text = screen_text(app)
        assert "last 60 s (30 s so far): 125 requests took the last free thread" in text
        assert "now: 2 of 3 processes all busy" in text


@pytest.mark.anyio
async def test_pause_stops_polling_and_q_quits() -> None:
    documents = [ASGI_FILE.read_bytes()] * 1000
    source = RecordedSource(ASGI_SOURCE, documents)
    app = TopApp([source], interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        while app.polls < 2:
            await pilot.pause(0.05)
        await pilot.press("p")
        assert app.paused
        await pilot.pause(0.15)  # a poll that had started finishes
        frozen = app.polls
        await pilot.pause(0.4)
        assert app.polls == frozen
        assert "PAUSED" in screen_text(app)
        await pilot.press("p")
        while app.polls == frozen:
            await pilot.pause(0.05)
        await pilot.press("q")
    assert app.return_code == 0


# -- the command and the boundary ----------------------------------------------------------------


def test_without_textual_top_prints_the_install_line() -> None:
    code = (
        "import sys; sys.modules['textual'] = None\n"
        "from gatewatch.cli import main\n"
        "sys.exit(main(['top', 'http://127.0.0.1:9/']))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert completed.returncode == 2
    assert completed.stderr.strip() == "gatewatch top needs Textual: pip install 'gatewatch[dashboard]'"


def test_top_takes_urls_on_both_sides_of_an_option() -> None:
    from gatewatch.cli import build_parser, parse

    args = parse(
        build_parser(), ["top", "http://127.0.0.1:8001", "--token", "t", "http://127.0.0.1:8002/metrics"]
    )
    assert (args.urls, args.token) == (["http://127.0.0.1:8001", "http://127.0.0.1:8002/metrics"], "t")
    with pytest.raises(SystemExit):
        parse(build_parser(), ["top", "http://127.0.0.1:8001", "--tokn", "t"])
    with pytest.raises(SystemExit):
        parse(build_parser(), ["export-grafana", "out", "extra"])


def test_the_dashboard_reads_only_the_schema_and_scrapes() -> None:
    """It never imports the middleware's internals: the live schema and the /metrics reader only,
    the local channel's reader (its directory rule, the snapshot files' format), and the PromQL
    it shares with the Grafana boards (a data module over the catalogue)."""
    allowed = {
        "gatewatch.export.live.schema",
        "gatewatch.export.live.local_dir",
        "gatewatch.export.prometheus.scrape_summary",
        "gatewatch.queries",
    }
    for path in (ROOT / "dashboard" / "gatewatch_dashboard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gatewatch."):
                assert node.module in allowed, f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(alias.name.startswith("gatewatch.") for alias in node.names), path.name


# -- the recorded views ------------------------------------------------------------------------


def test_fixtures_are_what_the_builder_makes() -> None:
    from tests.support.live_fixtures import asgi_view, wsgi_view

    assert json.loads(ASGI_FILE.read_text()) == asgi_view()
    assert json.loads(WSGI_FILE.read_text()) == wsgi_view()
    for source in recorded_sources():
        assert asyncio.run(source.read()).error is None
