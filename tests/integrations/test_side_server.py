"""The side server (``side_address``) under real WSGI servers: ``/metrics`` and the live view
answer while every worker is held by a request, and the live view only with the token.

gunicorn runs two sync workers with gatewatch's hooks (the arbiter serves the side port);
waitress runs two threads in one process (a thread of the process serves it). Each test holds
every worker in ``/hold`` (:mod:`tests.support.side_server_app`), waits until each has said it
is inside, reads the side port, then lets the workers go: ordering by events, not by clocks.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatewatch.demo.servers import LOOPBACK, ServerProcess, free_port, gunicorn_command
from gatewatch.export.live.schema import parse_live_view
from tests.support.live_support import LIVE, TOKEN
from tests.support.traffic import ROOT, gunicorn_config, in_flight_values
from tests.support.wsgi_servers import waitress_command

pytestmark = pytest.mark.slow

APP = "tests.support.side_server_app:wrapped"
# Generous bounds for the events waited on: a loaded machine is slow, never wrong.
WAIT = 60.0


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"waited {WAIT}s for {what}")


@contextmanager
def held(base_url: str, directory: Path, workers: int) -> Iterator[list[Future[httpx.Response]]]:
    """``workers`` requests to /hold, each inside the app on exit of the ``with``'s start; all
    let go (and answered) at its end."""
    release = directory / "release"
    os.mkfifo(release)
    pool = ThreadPoolExecutor(workers)
    client = httpx.Client(timeout=WAIT * 2)
    writer: int | None = None
    try:
        futures = [pool.submit(client.get, base_url + "/hold") for _ in range(workers)]
        wait_for(lambda: len(list(directory.glob("held-*"))) == workers, f"{workers} requests held")
        yield futures
        # Opened for writing only now that readers exist (it would block before); one byte lets
        # one request go; the end stays open until every response came back.
        writer = os.open(release, os.O_WRONLY)
        os.write(writer, b"x" * workers)
        assert [future.result(timeout=WAIT).status_code for future in futures] == [200] * workers
    finally:
        if writer is None:
            # Let the held requests go even when the test failed, before the server is stopped.
            try:
                writer = os.open(release, os.O_WRONLY | os.O_NONBLOCK)
                os.write(writer, b"x" * workers)
            except OSError:
                pass
        if writer is not None:
            os.close(writer)
        pool.shutdown(wait=False, cancel_futures=True)
        client.close()


def check_side(side: str, workers: int) -> dict[str, Any]:
    """While ``workers`` requests hold every worker: the side port's metrics count them in
    flight, and its live view lists them, to the token's bearer only."""
    with httpx.Client(base_url=side, timeout=WAIT) as client:
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert sum(in_flight_values(metrics.text)) == workers, metrics.text[:2000]
        assert client.get(LIVE).status_code == 401
        assert client.get(LIVE, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(LIVE, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 401
        assert client.get("/elsewhere").status_code == 404

        def listed() -> dict[str, Any] | None:
            response = client.get(LIVE, headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 200
            view = parse_live_view(response.content)
            flying = [r for p in view["processes"] for r in p["in_flight"] if r["interface"] == "wsgi"]
            return dict(view) if len(flying) == workers else None

        # Each worker's snapshot reaches the side port through its writer thread's next write.
        view: dict[str, Any] = wait_for(listed, f"{workers} requests in flight in the side port's live view")
        return view


def test_gunicorn_arbiter_answers_while_both_sync_workers_are_held(tmp_path: Path) -> None:
    port, side_port = free_port(), free_port()
    env = {
        "SIDE_TEST_DIR": str(tmp_path),
        "GATEWATCH_SIDE_ADDRESS": f"{LOOPBACK}:{side_port}",
        "GATEWATCH_LIVE_TOKEN": TOKEN,
    }
    command = gunicorn_command(APP, port, "-k", "sync", "-w", "2", "-c", str(gunicorn_config(tmp_path)))
    with ServerProcess(command, port=port, env=env, cwd=ROOT) as server, held(server.base_url, tmp_path, 2):
        pids = {name.name.split("-")[1] for name in tmp_path.glob("held-*")}
        assert len(pids) == 2  # both workers are held
        view = check_side(f"http://{LOOPBACK}:{side_port}", 2)
        assert {str(p["pid"]) for p in view["processes"] if p["in_flight"]} == pids
        assert str(server.pid) not in pids


def test_waitress_thread_answers_while_every_thread_is_held(tmp_path: Path) -> None:
    port, side_port = free_port(), free_port()
    env = {
        "SIDE_TEST_DIR": str(tmp_path),
        "GATEWATCH_SIDE_ADDRESS": str(side_port),  # the host is 127.0.0.1 unless given
        "GATEWATCH_LIVE_TOKEN": TOKEN,
    }
    command = waitress_command(APP, port, "--threads", "2")
    with ServerProcess(command, port=port, env=env, cwd=ROOT) as server, held(server.base_url, tmp_path, 2):
        # Every thread is held: the app itself answers nothing now, its side port does.
        with pytest.raises(httpx.TimeoutException):
            httpx.get(server.base_url + "/metrics", timeout=0.5)
        view = check_side(f"http://{LOOPBACK}:{side_port}", 2)
        assert [p["pid"] for p in view["processes"]] == [server.pid]


def test_gunicorn_refuses_a_bad_address_in_one_line(tmp_path: Path) -> None:
    command = gunicorn_command(APP, free_port(), "-w", "1", "-c", str(gunicorn_config(tmp_path)))
    env = {**os.environ, "SIDE_TEST_DIR": str(tmp_path), "GATEWATCH_SIDE_ADDRESS": "localhost:http"}
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 1
    [line] = [line for line in done.stderr.splitlines() if "GATEWATCH_SIDE_ADDRESS" in line]
    assert "gatewatch: GATEWATCH_SIDE_ADDRESS='localhost:http'" in line and "[HOST:]PORT" in line
    assert "Traceback" not in done.stderr
