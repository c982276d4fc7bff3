"""Label caps bound the whole server's series: every worker process, recycled ones included."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from pathlib import Path

import httpx
import pytest
import websockets

from gatewatch._labels import BoundedLabels
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command
from gatewatch.export.prometheus.shared_labels import SharedAdmission
from tests.support.label_bound_apps import MAX_ROUTES
from tests.support.scrape import samples
from tests.support.traffic import ROOT, gunicorn_config, scrape, uvicorn_workers_command

ROUTES_FILE = "gatewatch_labels_routes.jsonl"


def admit_in_child(path: str, values: list[str], limit: int, queue: multiprocessing.Queue[list[str]]) -> None:
    labels = BoundedLabels(limit=limit)
    labels.share(SharedAdmission(path, limit=limit))
    queue.put([labels.label(v) for v in values])


def test_processes_share_one_admission_list(tmp_path: Path) -> None:
    path = str(tmp_path / ROUTES_FILE)
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    first = [f"/a/{n}" for n in range(6)]
    second = [f"/b/{n}" for n in range(6)] + ["/a/1"]
    for values in (first, second):
        child = context.Process(target=admit_in_child, args=(path, values, 8, queue))
        child.start()
        child.join(10)
    assert queue.get(timeout=5) == first
    # The second process (a recycled worker) has room for two more only; known ones stay.
    assert queue.get(timeout=5) == ["/b/0", "/b/1"] + ["<other>"] * 4 + ["/a/1"]
    assert len(Path(path).read_text().splitlines()) == 8


def test_a_full_list_rejects_without_the_file(tmp_path: Path) -> None:
    path = tmp_path / ROUTES_FILE
    admission = SharedAdmission(str(path), limit=2)
    assert admission.admit("x") and admission.admit("y")
    path.unlink()
    assert not admission.admit("z")
    assert not path.exists()
    assert admission.admit("x")


def route_labels(text: str) -> set[str]:
    return {
        dict(labels)["route"]
        for (name, labels), _ in samples(text).items()
        if name == "gatewatch_http_request_duration_seconds_count"
    }


@pytest.mark.slow
def test_max_routes_holds_across_recycled_gunicorn_workers(tmp_path: Path) -> None:
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    port = free_port()
    command = gunicorn_command(
        "tests.support.label_bound_apps:wsgi",
        port,
        "-w",
        "2",
        "--max-requests",
        "40",
        "-c",
        str(gunicorn_config(tmp_path)),
    )
    with ServerProcess(
        command, port=port, ready_path="/ready", cwd=ROOT, env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    ) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            for n in range(400):
                assert client.get(f"/path/{n}").status_code == 200
        text = scrape(server.base_url)
    routes = route_labels(text)
    # 50 admitted server-wide (the ready probe among them), the rest "<other>"; never 50 a worker.
    assert len(routes - {"<other>", "/metrics"}) == MAX_ROUTES
    assert "<other>" in routes
    # About 95 series a route (the histograms' buckets): bounded by the cap, not by the
    # 400 distinct paths (before the shared cap: every recycled worker admitted 50 more).
    series = sum(1 for (name, _), _ in samples(text).items() if name.startswith("gatewatch_"))
    assert series < 100 * (MAX_ROUTES + 2)


@pytest.mark.slow
def test_client_chosen_close_codes_are_bounded_across_workers(tmp_path: Path) -> None:
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    port = free_port()
    command = uvicorn_workers_command("tests.support.label_bound_apps:asgi", port, tmp_path, workers=2)
    codes = random.Random(7).sample(range(3000, 5000), 200)

    async def sessions(base: str) -> None:
        for code in codes:
            async with websockets.connect(base.replace("http://", "ws://") + "/ws") as ws:
                await ws.close(code=code)

    with ServerProcess(
        command, port=port, ready_path="/ready", cwd=ROOT, env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    ) as server:
        asyncio.run(sessions(server.base_url))
        text = scrape(server.base_url)
    closes = {
        dict(labels)["code"]: number
        for (name, labels), number in samples(text).items()
        if name == "gatewatch_websocket_closes_total"
    }
    assert sum(closes.values()) == len(codes)
    assert len(closes) <= 64 + 1
    assert closes["other"] == len(codes) - 64
