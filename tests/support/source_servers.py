"""Real apps under uvicorn and gunicorn with known traffic, for the tests of ``gatewatch top``'s
``/metrics`` and Prometheus sources; and the counters they read, flattened to compare."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from gatewatch_dashboard.counters import ProcessCounters
from websockets.sync.client import connect

from gatewatch.demo.servers import LOOPBACK, ServerProcess, free_port, gunicorn_command, uvicorn_command
from gatewatch.queries import series
from tests.support.prometheus_server import prometheus_process
from tests.support.scrape import value
from tests.support.traffic import ROOT

# Requests per route template of the traffic below (Starlette's and Flask's templates).
ASGI_REQUESTS = {"/fast": 12, "/items/{item_id:int}": 3, "/error": 2, "/blocking": 2}
WSGI_REQUESTS = {"/fast": 10, "/items/<int:item_id>": 3, "/error": 2}
BLOCKING_ROUTE = "/blocking"
WS_ROUTE = "/ws/echo"
WS_MESSAGES = ("a", "bb")


@contextmanager
def app_server(command: list[str], port: int, log: Path, **env: str) -> Iterator[ServerProcess]:
    """The app from the checkout, its own process: no directory inherited from the caller."""
    python_path = os.environ.get("PYTHONPATH", "")
    server = ServerProcess(
        command,
        port=port,
        ready_path="/metrics",  # not recorded: it adds no request to the counts
        env={"PYTHONPATH": str(ROOT) + (os.pathsep + python_path if python_path else ""), **env},
        cwd=ROOT,
        log_path=log,
    )
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "GATEWATCH_LIVE_DIR"):
        server.env.pop(name, None)
    with server:
        yield server


@contextmanager
def starlette_server(tmp_path: Path, series_preset: str = "lean") -> Iterator[ServerProcess]:
    port = free_port()
    command = uvicorn_command("examples.starlette_app:wrapped", port)
    with app_server(
        command, port, tmp_path / f"uvicorn-{series_preset}.log", GATEWATCH_SERIES=series_preset
    ) as s:
        yield s


@contextmanager
def flask_server(tmp_path: Path, workers: int = 2) -> Iterator[ServerProcess]:
    """gunicorn with gatewatch's hooks: multiprocess metrics, one page for the server."""
    port = free_port()
    command = gunicorn_command(
        "examples.flask_app:wrapped", port, "-c", "examples/gunicorn.conf.py", "-w", str(workers)
    )
    with app_server(command, port, tmp_path / "gunicorn.log") as server:
        yield server


def _get_all(base_url: str, requests: dict[str, int], paths: dict[str, str]) -> None:
    # A connection per request: the server drops the connection of a request whose app raised.
    with httpx.Client(base_url=base_url, timeout=30, headers={"Connection": "close"}) as client:
        for route, count in requests.items():
            for index in range(count):
                client.get(paths.get(route, route).format(index=index + 1))


def asgi_traffic(base_url: str) -> None:
    """ASGI_REQUESTS, two loop blocks (one per /blocking request) and one echo session."""
    paths = {"/items/{item_id:int}": "/items/{index}", BLOCKING_ROUTE: BLOCKING_ROUTE + "?seconds=0.07"}
    _get_all(base_url, ASGI_REQUESTS, paths)
    with connect(base_url.replace("http://", "ws://", 1) + WS_ROUTE, open_timeout=30) as session:
        for message in WS_MESSAGES:
            session.send(message)
            assert session.recv(timeout=30) == message


def wsgi_traffic(base_url: str) -> None:
    _get_all(base_url, WSGI_REQUESTS, {"/items/<int:item_id>": "/items/{index}"})


def page(base_url: str) -> str:
    return httpx.get(base_url + "/metrics", timeout=30).text


def settled_page(
    base_url: str, requests: dict[str, int], *, session: bool = False, timeout: float = 15.0
) -> str:
    """The page once every request sent (and the session, when ``session``) is counted: a
    server records a request as its response ends, maybe after the client read it. Bounded,
    never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        text = page(base_url)
        counted = value(text, series("duration", "_count")) >= sum(requests.values())
        if session:
            counted = counted and value(text, series("websocket_sessions"), route=WS_ROUTE) >= 1
        if counted or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def flat(counters: ProcessCounters) -> dict[str, object]:
    """Every number of ``counters`` by its path (``routes.asgi /fast.buckets.3``), but the
    reading's own: key, time read, start."""
    found: dict[str, object] = {}

    def walk(path: str, item: object) -> None:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            for field in dataclasses.fields(item):
                walk(f"{path}.{field.name}", getattr(item, field.name))
        elif isinstance(item, dict):
            for key, inner in item.items():
                walk(f"{path}.{' '.join(key) if isinstance(key, tuple) else key}", inner)
        elif isinstance(item, tuple):
            for index, inner in enumerate(item):
                walk(f"{path}.{index}", inner)
        else:
            found[path] = item

    walk("", dataclasses.replace(counters, key="", at=0.0, started=None))
    return found


@contextmanager
def prometheus_server(tmp_path: Path, targets: list[ServerProcess]) -> Iterator[ServerProcess]:
    """Debian's ``prometheus`` on 127.0.0.1 scraping ``targets`` every second, each target's
    ``instance`` its host:port; yielded once it has scraped every one of them."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    listed = ", ".join(f"'{LOOPBACK}:{target.port}'" for target in targets)
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: apps\n    static_configs:\n      - targets: [{listed}]\n"
    )
    server = prometheus_process(config, tmp_path / "prometheus-data", port, directory=tmp_path)
    with server:
        deadline = time.monotonic() + 30
        query = {"query": f"count(up == 1) == {len(targets)}"}
        while not _answer(server.base_url, query):
            if time.monotonic() > deadline:
                raise TimeoutError("Prometheus never scraped every target")
            time.sleep(0.1)
        yield server


def _answer(base_url: str, params: dict[str, str]) -> list[object]:
    try:
        result: list[object] = httpx.get(base_url + "/api/v1/query", params=params, timeout=10).json()[
            "data"
        ]["result"]
    except (ValueError, KeyError):  # 503 "Service Unavailable" while the TSDB starts
        return []
    return result
