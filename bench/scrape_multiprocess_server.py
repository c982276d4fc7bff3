"""``python -m bench.scrape_multiprocess_server``: multiprocess scrapes in a real server.

uvicorn ``--workers N`` serves the scrape benchmark's gatewatch app (``bench.scrape_apps``) with
``PROMETHEUS_MULTIPROC_DIR`` set; every route is requested first, so that each worker's files
hold its series. Each worker runs a watch on its event loop (a task sleeping 1 ms at a time) and
notes every wake-up later than 2 ms, with the monotonic clock, in a file of its own. The longest
*hold* is the longest such delay in a window: with no scrapes (the same server, bare of them),
then while scrapes are asked one after another (OpenMetrics, gzip: what Prometheus asks). CPU
per scrape is measured in this process, on a copy of the workers' files: the merge and the text
exposition, gatewatch's (what ``/metrics`` does now) and prometheus-client's (``generate_latest``
over the same files), with the full garbage collections each one set off.
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.scrape_apps import METRICS, build, route_path
from bench.scrape_server import PROMETHEUS_ACCEPT
from bench.server_bench import ROOT
from gatewatch.demo.servers import ServerProcess, free_port, uvicorn_command
from gatewatch.demo.text_table import text_table
from gatewatch.types import ASGIApp, Receive, Scope, Send

GAPS_ENV = "GATEWATCH_BENCH_GAPS"
# A wake-up this much later than asked is noted.
NOTED = 0.002


class _Watched:
    """The app, with a watch on the worker's event loop started by its first request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        directory = Path(os.environ[GAPS_ENV])
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(_watch(directory))
        if scope["path"] != METRICS:
            await self.app(scope, receive, send)
            return
        # The scrapes this worker served: its delays then are the scrape's.
        started = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            with open(directory / f"{os.getpid()}.scrapes", "a") as out:
                out.write(f"{started} {time.monotonic()}\n")


async def _watch(directory: Path) -> None:
    with open(directory / f"{os.getpid()}.gaps", "a") as out:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(0.001)
            late = time.monotonic() - asked - 0.001
            if late > NOTED:
                out.write(f"{time.monotonic()} {late}\n")
                out.flush()


def __getattr__(name: str) -> Any:
    """``app_<routes>``: the gatewatch app of ``routes`` routes, watched."""
    prefix, _, routes = name.rpartition("_")
    if prefix != "app" or not routes.isdigit():
        raise AttributeError(name)
    app = _Watched(build("gatewatch", int(routes)))
    globals()[name] = app
    return app


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().read()
    finally:
        connection.close()


def _delays(gaps: Path) -> dict[str, list[tuple[float, float]]]:
    """Per worker: (when, how late) of each late wake-up."""
    found: dict[str, list[tuple[float, float]]] = {}
    for path in gaps.glob("*.gaps"):
        lines = path.read_text().splitlines()
        found[path.stem] = [(at - late, late) for at, late in (map(float, line.split()) for line in lines)]
    return found


def _longest(delays: list[tuple[float, float]], start: float, end: float) -> float:
    return max((late for at, late in delays if start <= at <= end), default=0.0)


def _scrape_holds(gaps: Path) -> tuple[list[float], list[float]]:
    """Each scrape's longest delay of the loop of the worker that served it: every worker's
    first scrape (its merger parses every key), and the later ones."""
    delays = _delays(gaps)
    first: list[float] = []
    later: list[float] = []
    for path in sorted(gaps.glob("*.scrapes")):
        for index, line in enumerate(path.read_text().splitlines()):
            start, end = map(float, line.split())
            (later if index else first).append(_longest(delays.get(path.stem, []), start, end))
    return first, later


def _cpu(directory: str, repeats: int) -> dict[str, float]:
    """Median CPU per scrape (ms) and full collections per scrape, both merges."""
    from prometheus_client import CollectorRegistry, generate_latest

    from gatewatch.export.prometheus._scrape import Families, Scrape, render_all
    from gatewatch.export.prometheus._worker_files import WorkerFilesCollector

    full: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    client = CollectorRegistry()
    WorkerFilesCollector(client, directory, fold_batch=0)
    own = CollectorRegistry(support_collectors_without_names=True)
    WorkerFilesCollector(own, directory, fold_batch=0)
    families = Families()
    scrapes: dict[str, Callable[[], bytes]] = {
        "client": lambda: generate_latest(client),
        "gatewatch": lambda: render_all(Scrape(own, families, accept="", accept_encoding="", query="")),
    }
    row: dict[str, float] = {}
    gc.callbacks.append(count)
    try:
        for name, scrape in scrapes.items():
            scrape()
            times = []
            full.clear()
            for _ in range(repeats):
                started = time.process_time()
                scrape()
                times.append(time.process_time() - started)
            row[f"{name}_ms"] = statistics.median(times) * 1e3
            row[f"{name}_full_gc"] = len(full) / repeats
    finally:
        gc.callbacks.remove(count)
    return row


def run(workers: int, routes: int, scrapes: int = 20, repeats: int = 5) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="gatewatch-bench-mps-") as root:
        files, gaps = Path(root, "files"), Path(root, "gaps")
        files.mkdir()
        gaps.mkdir()
        port = free_port()
        command = uvicorn_command(
            f"bench.scrape_multiprocess_server:app_{routes}", port, "--workers", str(workers)
        )
        env = {"PROMETHEUS_MULTIPROC_DIR": str(files), GAPS_ENV: str(gaps)}
        with ServerProcess(
            command, port=port, ready_path=route_path(0), env=env, start_timeout=120, cwd=ROOT
        ):
            for index in range(routes):
                _get(port, route_path(index))
            for index in range(workers * 20):
                _get(port, route_path(index % routes))
            idle_start = time.monotonic()
            time.sleep(3)
            idle_end = time.monotonic()
            idle = max(_longest(found, idle_start, idle_end) for found in _delays(gaps).values())
            headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
            started = time.monotonic()
            for _ in range(scrapes):
                _get(port, METRICS, headers)
            ended = time.monotonic()
            time.sleep(0.5)
            first, later = _scrape_holds(gaps)
            copy = os.path.join(root, "copy")
            shutil.copytree(files, copy)
        row = {
            "workers": workers,
            "routes": routes,
            "idle_hold_ms": idle * 1e3,
            "first_hold_ms": max(first) * 1e3,
            "later_hold_ms": max(later, default=math.nan) * 1e3,
            "later_median_hold_ms": statistics.median(later) * 1e3 if later else math.nan,
        }
        row["scrape_wall_ms"] = (ended - started) / scrapes * 1e3
        row.update(_cpu(copy, repeats))
        return row


def format_rows(rows: Sequence[dict[str, float]]) -> list[str]:
    """The rows as a table: loop holds in the scraped worker, CPU and full collections per scrape."""
    header = [
        "workers",
        "routes",
        "idle hold ms",
        "first scrape hold ms",
        "later holds: longest ms",
        "median ms",
        "scrape wall ms",
        "CPU ms",
        "full GCs",
        "prometheus-client CPU ms",
        "full GCs ",
    ]
    table = [
        [
            f"{row['workers']:.0f}",
            f"{row['routes']:,.0f}",
            f"{row['idle_hold_ms']:.1f}",
            f"{row['first_hold_ms']:.1f}",
            f"{row['later_hold_ms']:.1f}",
            f"{row['later_median_hold_ms']:.1f}",
            f"{row['scrape_wall_ms']:.0f}",
            f"{row['gatewatch_ms']:.0f}",
            f"{row['gatewatch_full_gc']:.1f}",
            f"{row['client_ms']:.0f}",
            f"{row['client_full_gc']:.1f}",
        ]
        for row in rows
    ]
    return text_table(header, table)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.scrape_multiprocess_server", description=__doc__)
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    args = parser.parse_args(argv)
    rows = [run(workers, args.routes) for workers in args.workers]
    print(*format_rows(rows), sep="\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
