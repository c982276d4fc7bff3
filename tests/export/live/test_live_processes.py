"""The live view across processes: snapshot files, their merge, forks, and real servers
(uvicorn, gunicorn with two workers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchWSGI, Monitor
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command, uvicorn_command
from gatewatch.export.live.schema import parse_live_view
from gatewatch.export.live.snapshot_files import merged_snapshot, snapshot_dir, write_atomically
from gatewatch.export.live.state import LiveState
from tests.support.live_support import (
    BEARER,
    TOKEN,
    TOKEN_ENV,
    idle_snapshot,
    ok_wsgi,
    wsgi_view,
)
from tests.support.traffic import ROOT
from tests.support.wsgi_driver import call, make_environ

# Snapshot files only where a test asks for them.
pytestmark = pytest.mark.usefixtures("no_snapshot_dir")


def test_snapshot_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GATEWATCH_LIVE_DIR", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    assert snapshot_dir() is None
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    assert snapshot_dir() == str(tmp_path / "prom")
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path / "live"))
    assert snapshot_dir() == str(tmp_path / "live")


def test_stale_dead_and_broken_files_are_skipped(tmp_path: Path) -> None:
    alive = os.getppid()
    path = tmp_path / f"gatewatch-live-{alive}.json"
    snapshot = idle_snapshot(alive)
    write_atomically(str(path), snapshot)
    assert merged_snapshot(str(tmp_path))["processes"] == [snapshot]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    old = time.time() - 6
    os.utime(path, (old, old))
    assert merged_snapshot(str(tmp_path))["processes"] == []

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_atomically(str(tmp_path / f"gatewatch-live-{gone.pid}.json"), idle_snapshot(gone.pid))
    (tmp_path / "gatewatch-live-broken.json").write_text("{not json")
    (tmp_path / "gatewatch-live-list.json").write_text("[1, 2]")
    # A live process's file, but not a snapshot of this schema: another gatewatch version, or
    # not one of ours.
    write_atomically(str(tmp_path / "gatewatch-live-partial.json"), {"schema": 1, "pid": alive})
    write_atomically(str(tmp_path / "gatewatch-live-next.json"), {**idle_snapshot(alive), "schema": 2})
    # Process ids no worker has: process groups, and one too large for the system.
    for pid in (0, -1, 2**70):
        write_atomically(str(tmp_path / f"gatewatch-live-odd{pid}.json"), idle_snapshot(pid))
    assert merged_snapshot(str(tmp_path))["processes"] == []


CHILD = """
import os, sys, time
from gatewatch.export.live.state import LiveState
from gatewatch.monitor import Monitor

monitor = Monitor()
state = LiveState(monitor, snapshot_dir=sys.argv[1])
monitor.add_sink(state)
record = monitor.start("wsgi", "GET", "/child/7?q=qu3ry-s3cret")
record.route = "/child/{n}"
record.status = 200
monitor.finish(record)
while state.snapshot_path is None or not os.path.exists(state.snapshot_path):
    time.sleep(0.02)
print(state.snapshot_path, flush=True)
sys.stdin.read()
"""


def test_two_processes_merged_through_their_files(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        child_file = Path(child.stdout.readline().strip())
        assert child_file == tmp_path / f"gatewatch-live-{child.pid}.json"
        monitor = Monitor()
        state = LiveState(monitor, snapshot_dir=str(tmp_path))
        monitor.add_sink(state)
        record = monitor.start("asgi", "POST", "/parent")
        record.route = "/parent"
        monitor.finish(record)
        view = state.view()
        assert view["schema"] == 1
        processes = {process["pid"]: process for process in view["processes"]}
        assert [p["pid"] for p in view["processes"]] == sorted([os.getpid(), child.pid])
        assert [e["route_label"] for e in processes[child.pid]["recent"]] == ["/child/{n}"]
        assert [e["route_label"] for e in processes[os.getpid()]["recent"]] == ["/parent"]
        assert "qu3ry-s3cret" not in child_file.read_text()
        # Read by a third party, both files: this process's is written once its writer has run.
        assert state.snapshot_path is not None
        wait_for_json(Path(state.snapshot_path), lambda s: len(s["recent"]) == 1)
        merged = merged_snapshot(str(tmp_path))
        routes = {p["pid"]: [e["route_label"] for e in p["recent"]] for p in merged["processes"]}
        assert routes == {os.getpid(): ["/parent"], child.pid: ["/child/{n}"]}
        child.stdin.close()
        assert child.wait(10) == 0
        # A worker that exits cleanly takes its file with it.
        assert not child_file.exists()
        assert [p["pid"] for p in state.view()["processes"]] == [os.getpid()]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        # The pipes are the test's to close: a Popen left with open pipes leaks them.
        for pipe in (child.stdin, child.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def test_writer_starts_with_the_first_request(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path))
    app = GatewatchWSGI(ok_wsgi, registry=registry, live_token=TOKEN)
    state = app.runtime.live_state(app.monitor)
    assert state.snapshot_dir == str(tmp_path)
    time.sleep(0.6)
    assert state.snapshot_path is None and list(tmp_path.iterdir()) == []
    call(app, make_environ("/first"))
    assert state.snapshot_path is not None
    written = wait_for_json(Path(state.snapshot_path), lambda s: len(s["recent"]) == 1)
    assert written["pid"] == os.getpid()
    # The endpoint serves this process fresh, not its file.
    call(app, make_environ("/second"))
    assert len(wsgi_view(app)["recent"]) == 2


def test_a_forked_child_writes_its_own_file(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path))
    app = GatewatchWSGI(ok_wsgi, registry=registry, live_token=TOKEN)
    state = app.runtime.live_state(app.monitor)
    call(app, make_environ("/parent"))
    assert state.snapshot_path is not None
    parent_file = Path(state.snapshot_path)
    wait_for_json(parent_file, lambda s: len(s["recent"]) == 1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            code = forked_child(app, state)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child = json.loads((tmp_path / f"gatewatch-live-{pid}.json").read_text())
    assert child["pid"] == pid and len(child["recent"]) == 1
    parent = wait_for_json(parent_file, lambda s: s["pid"] == os.getpid())
    assert len(parent["recent"]) == 1
    # The child is gone: only this process is merged.
    assert [p["pid"] for p in merged_snapshot(str(tmp_path))["processes"]] == [os.getpid()]


def forked_child(app: GatewatchWSGI, state: LiveState) -> int:
    """The child's side of the fork test: 0 when it starts afresh and writes its own file."""
    if state.snapshot()["recent"] or state.snapshot_path is not None:
        return 2  # the parent's requests or writer leaked into the child
    call(app, make_environ("/child"))
    own = Path(state.snapshot_path or "")
    if own.name != f"gatewatch-live-{os.getpid()}.json":
        return 3
    wait_for_json(own, lambda s: len(s["recent"]) == 1)
    return 0


def wait_for_json(path: Path, ready: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found: dict[str, Any] = json.loads(path.read_text())
            if ready(found):
                return found
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} not ready within {timeout}s")
        time.sleep(0.05)


# --- a real server ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_uvicorn_shows_a_slow_request_while_it_runs(tmp_path: Path) -> None:
    port = free_port()
    command = uvicorn_command("examples.starlette_app:wrapped", port)
    with (
        ServerProcess(
            command, port=port, ready_path="/fast", cwd=ROOT, env=TOKEN_ENV, log_path=tmp_path / "uvicorn.log"
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0, headers=BEARER) as client,
    ):
        result: dict[str, httpx.Response] = {}
        slow = threading.Thread(
            target=lambda: result.update(
                slow=client.get("/slow", params={"seconds": "1.5", "token": "qu3ry-s3cret"})
            )
        )
        slow.start()
        try:
            during = poll_live(client, lambda p: bool(p["in_flight"]))
        finally:
            slow.join(10)
        assert result["slow"].status_code == 200
        [entry] = during["in_flight"]
        assert (entry["interface"], entry["method"]) == ("asgi", "GET")
        # Starlette's router has matched: the route is read from the request's scope.
        assert (entry["route"], entry["view"]) == ("/slow", None)
        assert entry["blocking"] < 0.2 and entry["age"] > 0
        assert during["in_flight_counts"] == [{"interface": "asgi", "method": "GET", "count": 1}]
        assert during["servers"] == {"asgi": "uvicorn"}
        after = poll_live(client, lambda p: not p["in_flight"] and len(p["recent"]) == 2)
        fast, done = after["recent"]
        assert (fast["route_label"], fast["status_label"]) == ("/fast", "200")
        assert (done["route_label"], done["status_label"], done["response_bytes"]) == ("/slow", "200", 5)
        assert 1.5 <= done["duration"] < 5
        # Awaiting leaves the loop free.
        assert done["blocking"] < 0.2
        assert sum(s["requests"] for s in after["per_second"]) == 2
        raw = client.get("/_gatewatch/live.json")
        assert raw.headers["cache-control"] == "no-store"
        assert b"qu3ry-s3cret" not in raw.content


@pytest.mark.slow
def test_gunicorn_workers_are_merged(tmp_path: Path) -> None:
    """Two sync workers, each held by one slow request: whichever answers shows both."""
    port = free_port()
    command = gunicorn_command("examples.flask_app:wrapped", port, "-w", "2")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), **TOKEN_ENV}
    (tmp_path / "prom").mkdir()
    with (
        ServerProcess(
            command, port=port, ready_path="/fast", cwd=ROOT, env=env, log_path=tmp_path / "gunicorn.log"
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0, headers=BEARER) as client,
    ):
        slow = [threading.Thread(target=client.get, args=("/slow?seconds=0.5",)) for _ in range(2)]
        for thread in slow:
            thread.start()
        for thread in slow:
            thread.join(10)

        def both_workers(view: dict[str, Any]) -> bool:
            return sum(len(process["recent"]) for process in view["processes"]) == 3

        view = poll_view(client, both_workers)
        assert len({process["pid"] for process in view["processes"]}) == 2
        routes = sorted(e["route_label"] for process in view["processes"] for e in process["recent"])
        assert routes == ["/fast", "/slow", "/slow"]
        assert {process["servers"]["wsgi"] for process in view["processes"]} == {"gunicorn"}


def poll_view(client: httpx.Client, ready: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/_gatewatch/live.json")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        parse_live_view(view)  # what a real server serves fits the schema
        if ready(view):
            return view
        if time.monotonic() > deadline:
            raise TimeoutError(f"live view never ready: {view}")
        time.sleep(0.05)


def poll_live(client: httpx.Client, ready: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The single process of a one-process server, once ``ready(process)``."""
    view = poll_view(
        client, lambda view: len(view["processes"]) == 1 and ready(view["processes"][0]), timeout=timeout
    )
    process: dict[str, Any] = view["processes"][0]
    return process
