"""``gatewatch demo`` starts both servers, drives them and prints the comparison, then exits."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gatewatch.demo import django_demo as demo_django
from gatewatch.demo.plan import DJANGO, PLANS, plans_for
from gatewatch.demo.report import ClientStats, Result
from gatewatch.export.prometheus.scrape_summary import route_summaries, summarize
from tests.support.readme_commands import alive
from tests.support.traffic import ROOT


def run_demo(*args: str, cwd: Path = ROOT, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``gatewatch demo ARGS`` in a child process, its output echoed for a failing test's log."""
    completed = subprocess.run(
        [sys.executable, "-m", "gatewatch.cli", "demo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(completed.stdout)
    print(completed.stderr, file=sys.stderr)
    return completed


def _server_ports(out: str) -> list[int]:
    """The ports of the servers the demo drove ("driving ASGI at http://127.0.0.1:PORT ...")."""
    return [int(port) for port in re.findall(r"^\s+driving \w+ at http://127\.0\.0\.1:(\d+) ", out, re.M)]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _cells(out: str, label: str) -> list[str]:
    """The cells of a summary row: split on runs of 3+ spaces (cells hold single spaces)."""
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return re.split(r"\s{3,}", line.strip())[1:]


def _route_rows(out: str, route: str) -> dict[str, list[str]]:
    """The Django table's rows of ``route`` by interface: [dur, held, cpu, offload, hops]."""
    lines = out.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(route + " "))
    first = re.split(r"\s{3,}", lines[index].strip())  # route, view kind, ASGI, numbers
    second = re.split(r"\s{3,}", lines[index + 1].strip())  # WSGI, numbers
    return {first[2]: first[3:], second[0]: second[1:]}


def _ms(cell: str) -> float:
    assert cell.endswith(" ms"), cell
    return float(cell.removesuffix(" ms"))


@pytest.mark.slow
def test_demo_runs_both_interfaces_and_reports_them_from_an_empty_directory(tmp_path: Path) -> None:
    """The apps ship with gatewatch (gatewatch.demo.apps): no checkout, no --root, and nothing is
    written where the demo runs; no server is left. tests/test_packaging.py does the same from a
    built wheel. (One run for both: each run starts two servers.)"""
    completed = run_demo("--seconds", "1", "--clients", "6", cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "gatewatch.demo.apps.starlette_app:wrapped under uvicorn" in completed.stdout
    assert list(tmp_path.iterdir()) == []
    ports = _server_ports(completed.stdout)
    assert len(ports) == 2, completed.stdout
    assert not any(_listening(port) for port in ports), ports
    out = completed.stdout
    header = next(line for line in out.splitlines() if "ASGI (uvicorn)" in line)
    assert "WSGI (gunicorn" in header
    requests = _cells(out, "requests (server)")
    assert len(requests) == 2
    assert all(int(cell.replace(",", "")) > 0 for cell in requests), requests
    errors = _cells(out, "5xx responses / exceptions")
    # /error fails on both: a 500 each time, and the exception is counted.
    for cell in errors:
        five_xx, exceptions = (int(part.replace(",", "")) for part in cell.split(" / "))
        assert five_xx > 0 and exceptions > 0, errors
    assert len(_cells(out, "bytes out")) == 2
    for route in ("/fast", "/slow", "/blocking", "/stream", "/large", "/error"):
        assert re.search(rf"^\s+{re.escape(route)}\s", out, re.MULTILINE), route
    assert "What differs:" in out
    assert "held the event loop" in out


@pytest.mark.slow
def test_demo_root_serves_a_checkouts_examples(tmp_path: Path) -> None:
    """--root CHECKOUT serves that checkout's examples/ (the same files, by their checkout name)."""
    completed = run_demo("--seconds", "0.5", "--clients", "2", "--root", str(ROOT), cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "examples.starlette_app:wrapped under uvicorn" in completed.stdout
    assert "examples.flask_app:wrapped under gunicorn" in completed.stdout
    assert "requests (server)" in completed.stdout


def test_demo_root_without_the_apps_is_a_one_line_error(tmp_path: Path) -> None:
    """A wrong --root fails before any server starts, never falling back to other apps."""
    for root in (tmp_path / "nonexistent", tmp_path):
        completed = run_demo("--root", str(root), cwd=tmp_path, timeout=30)
        assert completed.returncode == 2
        assert completed.stdout == ""
        assert completed.stderr.startswith(f"gatewatch demo: --root {root}: no examples/starlette_app.py")
        assert completed.stderr.count("\n") == 1, completed.stderr
    # The Django plan's apps are checked too, before `all` starts the first pair.
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "starlette_app.py").touch()
    completed = run_demo("--app", "all", "--root", str(tmp_path), cwd=tmp_path, timeout=30)
    assert completed.returncode == 2
    assert "no examples/django_project/settings.py" in completed.stderr
    assert completed.stdout == ""


@pytest.mark.slow
def test_demo_rejects_unbounded_runs() -> None:
    completed = run_demo("--seconds", "3600", timeout=30)
    assert completed.returncode == 2
    assert "--seconds" in completed.stderr


@pytest.mark.slow
def test_demo_django_serves_one_project_both_ways() -> None:
    completed = run_demo("--app", "django", "--seconds", "1", "--clients", "4")
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "gatewatch.demo.apps.django_project.asgi:application under uvicorn" in out
    assert "gatewatch.demo.apps.django_project.wsgi:application under gunicorn" in out
    requests = _cells(out, "requests (server)")
    assert len(requests) == 2
    assert all(int(cell.replace(",", "")) > 0 for cell in requests), requests

    sync = _route_rows(out, "/sync/")
    # Under ASGI Django hands the sync view (and its own sync hooks) to threads; under
    # WSGI the worker thread runs it directly.
    assert _ms(sync["ASGI"][3]) > 0, sync
    assert sync["WSGI"][3] == "0 ms", sync
    assert float(sync["ASGI"][4]) >= 1 and float(sync["WSGI"][4]) == 0, sync
    blocking = _route_rows(out, "/blocking-async/")
    # time.sleep(0.02) inside an async view holds the loop for all of it.
    assert _ms(blocking["ASGI"][1]) >= 15, blocking
    slow_sync = _route_rows(out, "/slow-sync/")
    # The same 50 ms sleep in a sync view holds the WSGI worker but not the loop.
    assert _ms(slow_sync["WSGI"][1]) >= 45, slow_sync
    assert _ms(slow_sync["ASGI"][1]) < 25, slow_sync
    async_view = _route_rows(out, "/async/")
    assert float(async_view["WSGI"][4]) >= 1, async_view  # async_to_sync under WSGI
    assert not re.search(r"^\s+/metrics\s", out, re.MULTILINE)  # the probe and the scrape

    explanation = " ".join(out.split("What differs:", 1)[1].split())  # unwrapped
    assert "hops" in explanation
    assert "/blocking-async/" in explanation and "held the event loop" in explanation


def _histogram(name: str, labels: str, count: float, total: float) -> str:
    return (
        f'{name}_bucket{{{labels},le="+Inf"}} {count}\n'
        f"{name}_sum{{{labels}}} {total}\n"
        f"{name}_count{{{labels}}} {count}\n"
    )


SYNC = 'interface="asgi",method="GET",route="/sync/"'
METRICS = 'interface="asgi",method="GET",route="/metrics"'
SCRAPE = (
    "# TYPE gatewatch_http_request_duration_seconds histogram\n"
    + _histogram("gatewatch_http_request_duration_seconds", SYNC + ',status="200"', 2, 0.02)
    + _histogram("gatewatch_http_request_duration_seconds", METRICS + ',status="200"', 1, 0.5)
    + "# TYPE gatewatch_http_route_offload_seconds counter\n"
    + f"gatewatch_http_route_offload_seconds_total{{{SYNC}}} 0.006\n"
    + f"gatewatch_http_route_offload_seconds_total{{{METRICS}}} 0.4\n"
    + "# TYPE gatewatch_http_request_offload_queue_seconds histogram\n"
    + _histogram("gatewatch_http_request_offload_queue_seconds", SYNC, 2, 0.002)
    + "# TYPE gatewatch_http_request_thread_hops counter\n"
    + f"gatewatch_http_request_thread_hops_total{{{SYNC}}} 10\n"
    + f"gatewatch_http_request_thread_hops_total{{{METRICS}}} 5\n"
    + "# TYPE gatewatch_route_view info\n"
    + 'gatewatch_route_view_info{interface="asgi",route="/sync/",view="app.views.sync_view",'
    'view_kind="sync"} 1\n'
)


def test_scrape_summary_reads_offload_hops_and_views_without_excluded_routes() -> None:
    routes = route_summaries(SCRAPE, "asgi", exclude_routes=("/metrics",))
    assert set(routes) == {"/sync/"}
    sync = routes["/sync/"]
    assert sync.offload_mean == pytest.approx(0.003)
    assert sync.offload_queue_mean == pytest.approx(0.001)
    assert sync.hops_mean == pytest.approx(5.0)
    assert (sync.view, sync.view_kind) == ("app.views.sync_view", "sync")
    summary = summarize(SCRAPE, "asgi", exclude_routes=("/metrics",))
    assert summary.requests == 2
    assert summary.offload_per_request == pytest.approx(0.003)
    assert summary.hops_per_request == pytest.approx(5.0)
    # Kept in, /metrics counts like any route.
    assert summarize(SCRAPE, "asgi").requests == 3


def test_scrape_summary_without_hand_offs_says_none() -> None:
    """Outside Django nothing tracks hand-offs: None, not a misleading zero."""
    text = SCRAPE.split("# TYPE gatewatch_http_route_offload_seconds", 1)[0]
    sync = route_summaries(text, "asgi")["/sync/"]
    assert sync.offload_mean is None and sync.hops_mean is None and sync.view_kind is None
    summary = summarize(text, "asgi")
    assert summary.offload_per_request is None and summary.hops_per_request is None


def test_django_report_survives_missing_routes_and_sides() -> None:
    asgi_only = Result(
        label="ASGI",
        server="uvicorn, 1 process, 1 event loop",
        client=ClientStats(seconds=1.0, responses=2, latencies=[0.01, 0.02]),
        summary=summarize(SCRAPE, "asgi", exclude_routes=DJANGO.excluded_routes),
        routes=route_summaries(SCRAPE, "asgi", exclude_routes=DJANGO.excluded_routes),
    )
    assert demo_django.explain([], endpoints=9, wsgi_workers=2) == []
    # Only /sync/ was served: every sentence that needs another route stays out.
    assert demo_django.explain([asgi_only], endpoints=9, wsgi_workers=2) == []
    table = demo_django.route_table([asgi_only])
    assert table.rows == [["/sync/", "sync", "ASGI", "10.0 ms", "-", "-", "3.0 ms", "5.0"]]


def test_app_choices_name_the_plans() -> None:
    assert [plan.name for plan in plans_for("all")] == list(PLANS) == ["starlette-flask", "django"]
    assert plans_for("django") == [DJANGO]
    with pytest.raises(ValueError, match="unknown demo app"):
        plans_for("pyramid")


@pytest.mark.slow
def test_headless_json_plays_every_scenario_and_the_numbers_point_the_expected_way() -> None:
    completed = run_demo("--headless", "--duration", "10", "--json", timeout=90)
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["scenarios"] == ["slow-io", "websockets", "long-stream", "blocking"]
    asgi, wsgi = summary["interfaces"]["asgi"], summary["interfaces"]["wsgi"]
    assert asgi["requests"] > 0 and wsgi["requests"] > 0
    for side in (asgi, wsgi):
        assert side["p50"] is not None and side["p95"] >= side["p50"]
    # Slow I/O: one loop keeps many requests in flight; two sync workers hold two at most,
    # and the rest queue (the demo stamps X-Request-Start as a proxy would).
    assert asgi["max_concurrency"] > summary["wsgi_workers"] >= wsgi["max_concurrency"]
    assert wsgi["queue_time_mean"] > 0 and wsgi["queue_time_p95"] > 0
    # Every WSGI request holds its worker throughout; the loop is held only by the blocking endpoint.
    assert wsgi["blocking_share"] == pytest.approx(1.0, abs=0.01)
    assert asgi["blocking_share"] < 0.5
    assert asgi["loop_lag_p99"] >= summary["blocking_sleep"]
    assert wsgi["loop_lag_p99"] is None
    # WebSockets: sessions on ASGI only; the WSGI side refuses the upgrade, and counts it.
    assert asgi["websocket_sessions"]["accepted"] == asgi["websocket_sessions"]["accepted_recorded"] == 8
    assert asgi["websocket_sessions"]["refused"] == 0
    assert wsgi["websocket_sessions"]["accepted"] == 0
    assert wsgi["websocket_sessions"]["refused"] == wsgi["websocket_sessions"]["refused_recorded"] == 8
    # Nothing left behind: both servers (and gunicorn's workers, in their process groups) stopped.
    for server in summary["servers"].values():
        assert not alive(server["pid"]), server
        assert not _listening(int(server["url"].rsplit(":", 1)[1])), server


def test_json_without_duration_bounds_is_refused() -> None:
    completed = run_demo("--headless", "--json", "--duration", "9999", timeout=30)
    assert completed.returncode == 2
    assert "--duration" in completed.stderr


def test_the_live_demo_shows_each_saturated_wsgi_worker_busy() -> None:
    # Read over HTTP, the sync worker answering the live view is serving no request meanwhile:
    # in slow I/O one of the two always read "0 / 1" (the view could never show both busy),
    # and with both busy the poll timed out.
    import asyncio
    import threading
    import time
    import urllib.request

    from gatewatch.demo.live_demo import dashboard_sources, running_servers
    from gatewatch.demo.plan import STARLETTE_FLASK
    from gatewatch.demo.run import side_url

    with running_servers(STARLETTE_FLASK, None) as servers:
        wsgi, source, server = next(
            (side, source, server)
            for (side, server), source in zip(servers, dashboard_sources(servers), strict=True)
            if side.interface == "wsgi"
        )
        # Read from the side server gunicorn's arbiter runs, never from a worker.
        side_server = side_url(server)
        assert side_server is not None and getattr(source, "url", "").startswith(side_server)
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                urllib.request.urlopen(wsgi.base_url + "/slow?seconds=0.3", timeout=30).read()

        clients = [threading.Thread(target=client) for _ in range(6)]
        for thread in clients:
            thread.start()
        try:
            deadline = time.monotonic() + 30
            busy: list[tuple[int, int | None]] = []
            while time.monotonic() < deadline:
                reading = asyncio.run(source.read())
                busy = [(worker.busy, worker.total) for worker in reading.workers]
                if busy == [(1, 1), (1, 1)]:
                    break
                time.sleep(0.2)
            assert busy == [(1, 1), (1, 1)]
        finally:
            stop.set()
            for thread in clients:
                thread.join(timeout=60)
