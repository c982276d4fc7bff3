"""The live view's snapshot directory: refused when others can write to it, read without ever
blocking or trusting a file that is not this user's, failures reported once; and workers that
serve only WebSockets show in the merged view under gunicorn."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import websockets

from gatewatch import GatewatchWSGI
from gatewatch.demo.servers import ServerProcess, free_port
from gatewatch.export.live.snapshot_files import WRITE_INTERVAL, merged_snapshot, write_atomically
from gatewatch.export.live.state import LiveState
from gatewatch.monitor import Monitor
from gatewatch.runtime import Runtime
from tests.support.live_support import BEARER, TOKEN_ENV, idle_snapshot
from tests.support.traffic import ROOT, uvicorn_workers_command
from tests.support.wsgi_driver import call, make_environ


def _give_away(directory: Path) -> None:
    directory.mkdir()
    os.chown(directory, 65534, 65534)
    directory.chmod(0o755)


def hello(environ: object, start_response: object) -> list[bytes]:
    start_response("200 OK", [])  # type: ignore[operator]
    return [b"hi"]


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.write_text("a file"), "is not a directory"),
        (lambda d: (d.mkdir(), d.chmod(0o777)), "can be written by other users"),
        (lambda d: (d.mkdir(), d.chmod(0o770)), "can be written by other users"),
        (lambda d: _give_away(d), "can be written by other users|not writable"),
    ],
)
def test_an_unsafe_directory_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, prepare: object, message: str
) -> None:
    directory = tmp_path / "live"
    prepare(directory)  # type: ignore[operator]
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(directory))
    with pytest.raises(ValueError, match=rf"GATEWATCH_LIVE_DIR='{directory}'.*({message})"):
        GatewatchWSGI(hello, monitor=Monitor())


def test_a_fifo_a_link_and_another_users_file_are_never_read(tmp_path: Path) -> None:
    pid = os.getpid()
    write_atomically(str(tmp_path / "real.json"), idle_snapshot(pid))
    os.mkfifo(tmp_path / "gatewatch-live-1.json")
    (tmp_path / "gatewatch-live-2.json").symlink_to(tmp_path / "real.json")
    write_atomically(str(tmp_path / "gatewatch-live-3.json"), idle_snapshot(pid))
    os.chown(tmp_path / "gatewatch-live-3.json", 65534, 65534)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(merged_snapshot(str(tmp_path))), daemon=True)
    reader.start()
    reader.join(2.0)
    assert not reader.is_alive(), "the reader blocked on the FIFO"
    assert result[0]["processes"] == []  # type: ignore[index]


def test_a_directory_removed_under_a_running_server_is_reported_once(tmp_path: Path) -> None:
    directory = tmp_path / "live"
    directory.mkdir()
    monitor = Monitor()
    state = LiveState(monitor, snapshot_dir=str(directory))
    monitor.add_sink(state)
    monitor.finish(monitor.start("wsgi", "GET", "/"))
    # Polled with a generous deadline: a loaded machine can be late by more than a write period.
    assert state.snapshot_path is not None
    assert until(Path(state.snapshot_path).exists)
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    assert until(lambda: monitor.internal_errors >= 1)
    # Reported once: the writer tries again every WRITE_INTERVAL and says nothing more.
    time.sleep(3 * WRITE_INTERVAL)
    assert monitor.internal_errors == 1
    del state


def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_live_state_checks_the_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime: Runtime
) -> None:
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="GATEWATCH_LIVE_DIR"):
        runtime.live_state(Monitor())
    (tmp_path / "ok").mkdir(mode=0o700)
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path / "ok"))
    app = GatewatchWSGI(hello, monitor=Monitor())
    assert call(app, make_environ("/")).body == b"hi"


@pytest.mark.slow
def test_workers_serving_only_websockets_are_in_the_merged_view(tmp_path: Path) -> None:
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    port = free_port()
    command = uvicorn_workers_command("tests.support.label_bound_apps:asgi", port, tmp_path, workers=2)

    async def hold_sessions(base: str, ready: asyncio.Event, done: asyncio.Event) -> None:
        url = base.replace("http://", "ws://") + "/ws"
        sessions = [await websockets.connect(url) for _ in range(20)]
        ready.set()
        await done.wait()
        for session in sessions:
            await session.close()

    with ServerProcess(
        command,
        port=port,
        ready_path="/ready",
        cwd=ROOT,
        env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc), **TOKEN_ENV},
    ) as server:

        async def main() -> list[int]:
            ready, done = asyncio.Event(), asyncio.Event()
            holder = asyncio.create_task(hold_sessions(server.base_url, ready, done))
            await ready.wait()
            await asyncio.sleep(1.0)  # every worker's writer has written once
            seen = []
            async with httpx.AsyncClient(base_url=server.base_url, headers=BEARER) as client:
                for _ in range(6):
                    view = (await client.get("/_gatewatch/live.json")).json()
                    seen.append(sum(len(p["websockets"]["open"]) for p in view["processes"]))
            done.set()
            await holder
            return seen

        seen = asyncio.run(main())
    assert seen == [20] * 6


@pytest.mark.slow
def test_under_gunicorn_a_fifo_and_a_forged_worker_are_ignored(tmp_path: Path) -> None:
    live_dir = tmp_path / "live"
    live_dir.mkdir(mode=0o700)
    os.mkfifo(live_dir / "gatewatch-live-1.json")
    forged = live_dir / "gatewatch-live-2.json"
    forgery = idle_snapshot(1)
    forgery["in_flight"] = [
        {
            "id": 1,
            "interface": "asgi",
            "method": "GET",
            "route": "/forged",
            "age": 1.0,
            "blocking": 0.0,
            "cpu": None,
            "thread_hops": 0,
            "offload": None,
            "view": None,
            "view_kind": "",
        }
    ]
    write_atomically(str(forged), forgery)
    os.chown(forged, 65534, 65534)
    port = free_port()
    # One worker: the one answering reads the directory, FIFO and forged file included.
    command = uvicorn_workers_command("tests.support.label_bound_apps:asgi", port, tmp_path, workers=1)
    with ServerProcess(
        command,
        port=port,
        ready_path="/ready",
        cwd=ROOT,
        env={"GATEWATCH_LIVE_DIR": str(live_dir), **TOKEN_ENV},
    ) as server:

        async def main() -> list[dict[str, object]]:
            url = server.base_url.replace("http://", "ws://") + "/ws"
            sessions = [await websockets.connect(url) for _ in range(3)]
            await asyncio.sleep(0.8)
            async with httpx.AsyncClient(base_url=server.base_url, timeout=3.0, headers=BEARER) as client:
                views = [(await client.get("/_gatewatch/live.json")).json() for _ in range(4)]
            for session in sessions:
                await session.close()
            return views

        for view in asyncio.run(main()):
            pids = {process["pid"] for process in view["processes"]}  # type: ignore[attr-defined]
            assert len(pids) == 1 and 1 not in pids
            assert "/forged" not in json.dumps(view)
