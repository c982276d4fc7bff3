"""Workers that die without a server hook (issue 26, item 4): uvicorn and granian restart a
killed worker without telling the app, so the scrape, the live view and the start-up message
must tell for themselves which workers still run.

The real-server tests kill a worker holding an open stream and check what every later scrape
shows; the rest check the pieces on real prometheus-client files and real processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from gatewatch import _processes as processes
from gatewatch.demo.servers import (
    LOOPBACK,
    ServerProcess,
    free_port,
    granian_command,
    hypercorn_command,
    uvicorn_command,
)
from gatewatch.export.live.local_dir import server_dirs
from gatewatch.export.live.snapshot_files import merged_snapshot, write_atomically
from gatewatch.export.prometheus._worker_files import WorkerFilesCollector, current_files, forget_predecessor
from tests.support.live_support import idle_snapshot
from tests.support.scrape import samples, value
from tests.support.start_up_warnings import start_up_warnings
from tests.support.traffic import DURATION_COUNT, ROOT, in_flight_values, scrape, scrape_until

IN_FLIGHT = "gatewatch_http_requests_in_flight"
APP = "tests.support.worker_death_app:wrapped"
NO_PROC = processes.process_started(os.getpid()) is None


# -- what the pieces decide, on real processes and real prometheus-client files ---------------


def exited_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(child.stdout)


@pytest.mark.skipif(NO_PROC, reason="no /proc to tell a zombie")
def test_a_zombie_is_not_running() -> None:
    # Dead, not yet reaped by its parent: kill(pid, 0) still answers, as after a SIGKILL until
    # the server reaps its worker.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 20
        while Path(f"/proc/{child.pid}/stat").read_bytes().split(b") ")[1][:1] != b"Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.02)
        os.kill(child.pid, 0)
        assert not processes.process_running(child.pid)
        assert processes.writer_state(child.pid, time.time()) == "gone"
    finally:
        child.wait()
    assert processes.process_running(os.getpid())


@pytest.mark.skipif(NO_PROC, reason="no /proc to tell a zombie or when a process started")
def test_the_live_view_leaves_out_snapshots_of_workers_not_running(tmp_path: Path) -> None:
    # A killed worker's last snapshot lists its requests in flight; it is fresh for seconds.
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    later = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert poll(lambda: Path(f"/proc/{zombie.pid}/stat").read_bytes().split(b") ")[1][:1] == b"Z")
        write_atomically(str(tmp_path / f"gatewatch-live-{zombie.pid}.json"), idle_snapshot(zombie.pid))
        # Written before the process now holding the pid started: a dead worker's, id reused.
        reused = tmp_path / f"gatewatch-live-{later.pid}.json"
        write_atomically(str(reused), idle_snapshot(later.pid))
        started = processes.process_started(later.pid)
        assert started is not None
        os.utime(reused, (started - 5, started - 5))
        running = os.getppid()
        write_atomically(str(tmp_path / f"gatewatch-live-{running}.json"), idle_snapshot(running))
        view = merged_snapshot(str(tmp_path), stale_after=60)
        assert [p["pid"] for p in view["processes"]] == [running]
    finally:
        zombie.wait()
        assert later.stdin is not None
        later.stdin.close()
        later.wait()


def write_value(path: Path, key: str, number: float) -> Path:
    """One value in prometheus-client's own file format, as a worker writes it."""
    values = MmapedDict(str(path))  # type: ignore[no-untyped-call]
    values.write_value(key, number, 0.0)  # type: ignore[no-untyped-call]
    values.close()  # type: ignore[no-untyped-call]
    return path


def write_gauge(
    directory: Path, mode: str, pid: int, name: str, labels: dict[str, str], number: float
) -> Path:
    key = mmap_key(name, name, list(labels), list(labels.values()), "help")
    return write_value(directory / f"gauge_{mode}_{pid}.db", key, number)


def write_counter(directory: Path, pid: int, number: float) -> Path:
    key = mmap_key("requests", "requests_total", [], [], "help")
    return write_value(directory / f"counter_{pid}.db", key, number)


@pytest.mark.skipif(NO_PROC, reason="no /proc to tell when a process started")
def test_the_scrape_leaves_out_the_live_gauges_of_workers_not_running(tmp_path: Path) -> None:
    labels = {"interface": "asgi", "method": "GET"}
    dead = exited_pid()
    dead_gauge = write_gauge(tmp_path, "livesum", dead, IN_FLIGHT, labels, 1)
    # A label set only the dead worker had: it has been 3, it must read 0, not vanish.
    write_gauge(tmp_path, "livesum", dead, IN_FLIGHT, {"interface": "asgi", "method": "POST"}, 3)
    dead_busy = write_gauge(tmp_path, "liveall", dead, "busy", {}, 1)
    write_counter(tmp_path, dead, 5)
    # A file older than the running process with its pid: the id was reused.
    other = os.getppid()
    replaced = write_gauge(tmp_path, "livesum", other, IN_FLIGHT, labels, 4)
    started = processes.process_started(other)
    assert started is not None
    os.utime(replaced, (started - 10, started - 10))
    write_gauge(tmp_path, "livesum", os.getpid(), IN_FLIGHT, labels, 2)
    write_gauge(tmp_path, "liveall", os.getpid(), "busy", {}, 1)
    write_counter(tmp_path, os.getpid(), 3)

    registry = CollectorRegistry()
    WorkerFilesCollector(registry, str(tmp_path))
    text = generate_latest(registry).decode()
    assert value(text, IN_FLIGHT, **labels) == 2
    post = (IN_FLIGHT, frozenset({"interface": "asgi", "method": "POST"}.items()))
    assert samples(text)[post] == 0
    assert value(text, "busy", pid=str(os.getpid())) == 1
    assert not any(name == "busy" and ("pid", str(dead)) in found for name, found in samples(text))
    # Nothing counted is lost: the dead worker's requests happened.
    assert value(text, "requests_total") == 8
    # A dead worker's live gauges go, as mark_process_dead would (its in-flight label sets
    # kept at 0 in a file no scrape asks about again); a reused pid's file stays (its new owner
    # may be a worker about to open it).
    assert not dead_gauge.exists() and not dead_busy.exists()
    assert replaced.exists()
    assert not list(tmp_path.glob(".gatewatch-ended-*"))
    # The dead worker's counter is folded (gatewatch.export.prometheus._fold) by the scrape,
    # before its live gauges are retired.
    assert sorted(Path(p).name for p in current_files(str(p) for p in tmp_path.glob("*.db"))) == sorted(
        [
            "counter_folded-1.db",
            f"gauge_sum_{dead}-ended.db",
            f"counter_{os.getpid()}.db",
            f"gauge_livesum_{os.getpid()}.db",
            f"gauge_liveall_{os.getpid()}.db",
        ]
    )


@pytest.mark.skipif(NO_PROC, reason="no /proc to tell when a process started")
def test_a_worker_forgets_the_live_gauges_of_an_earlier_process_with_its_pid(tmp_path: Path) -> None:
    labels = {"interface": "asgi", "method": "GET"}
    older = write_gauge(tmp_path, "livesum", os.getpid(), IN_FLIGHT, labels, 3)
    started = processes.process_started(os.getpid())
    assert started is not None
    os.utime(older, (started - 10, started - 10))
    counter = write_counter(tmp_path, os.getpid(), 5)
    own = write_gauge(tmp_path, "liveall", os.getpid(), "busy", {}, 1)
    assert forget_predecessor(str(tmp_path)) == [older.name]
    assert not older.exists() and counter.exists() and own.exists()


# -- what a worker says at start-up ------------------------------------------------------------


@pytest.mark.skipif(NO_PROC, reason="no /proc to tell when a process started")
def test_a_worker_tells_dead_siblings_from_an_earlier_run(tmp_path: Path) -> None:
    started = processes.process_started(os.getpid())
    assert started is not None
    sibling, earlier = exited_pid(), exited_pid()
    write_counter(tmp_path, sibling, 1)  # written now, since this "server" (this process) started
    old = write_counter(tmp_path, earlier, 1)
    os.utime(old, (started - 10, started - 10))
    running = write_counter(tmp_path, os.getpid(), 1)  # a live sibling: not mentioned

    records = start_up_warnings(tmp_path)
    assert running.exists()
    [(warning_level, warning), (info_level, info)] = records
    assert warning_level == "WARNING"
    assert (
        "holds 1 files of 1 processes that ended before this server started "
        f"(an earlier run's: pids {earlier})" in warning
    )
    assert str(sibling) not in warning and str(os.getpid()) not in warning
    assert info_level == "WARNING"  # seen in a server's log with no logging set up
    assert f"workers of this server ended without a hook telling gatewatch (pids {sibling})" in info
    assert "live gauges (requests in flight" in info and str(earlier) not in info


# -- real servers that restart a killed worker -------------------------------------------------


SERVERS: dict[str, Callable[[int], list[str]]] = {
    "uvicorn": lambda port: uvicorn_command(APP, port, "--workers", "2"),
    # granian stops when a worker dies unless asked to respawn it.
    "granian": lambda port: granian_command(APP, port, "--workers", "2", "--respawn-failed-workers"),
}


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, Path]]:
    directory = tmp_path / "prom"
    directory.mkdir(mode=0o700)
    # The local root `gatewatch top` reads with no URL: this test's own.
    (tmp_path / "run").mkdir(mode=0o700)
    port = free_port()
    log = tmp_path / "server.log"
    process = ServerProcess(
        SERVERS[request.param](port),
        port=port,
        ready_path="/pid",
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory), "XDG_RUNTIME_DIR": str(tmp_path / "run")},
        cwd=ROOT,
        log_path=log,
    )
    with process:
        yield process, directory, log


def hold_stream(port: int) -> tuple[socket.socket, int]:
    """A request to ``/hold`` left open: the socket, and the pid of the worker holding it."""
    sock = socket.create_connection((LOOPBACK, port), timeout=20)
    sock.sendall(b"GET /hold HTTP/1.1\r\nHost: gatewatch\r\n\r\n")
    data = b""
    # The head, then the first chunk: "<size>\r\n<pid>\n\r\n".
    while data.count(b"\r\n\r\n") < 1 or not data.split(b"\r\n\r\n", 1)[1].endswith(b"\n\r\n"):
        received = sock.recv(4096)
        assert received, data
        data += received
    return sock, int(data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")[1])


def poll(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def in_flight_after_a_kill(base_url: str) -> list[float] | None:
    """The in-flight values, or None while a connection the killed worker had taken is reset
    (seen under granian on a loaded machine, where the master takes longer to notice)."""
    try:
        return in_flight_values(scrape(base_url))
    except OSError:
        return None


def in_flight_listed(directory: Path, pid: int) -> bool:
    view = merged_snapshot(str(directory))
    return any(
        p["pid"] == pid and any(r["route"] == "/hold" for r in p["in_flight"]) for p in view["processes"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("server", list(SERVERS), indirect=True)
def test_a_killed_workers_requests_leave_the_live_gauges(server: tuple[ServerProcess, Path, Path]) -> None:
    process, directory, log = server
    import httpx

    with httpx.Client(base_url=process.base_url, timeout=20) as client:
        for _ in range(5):
            assert client.get("/pid").status_code == 200
    sock, pid = hold_stream(process.port)
    try:
        # The ready probe and the five; the held request is in flight, in the scrape and the view.
        # A record ends when the app returns, a moment after the client has its response.
        before = scrape_until(process.base_url, lambda text: value(text, DURATION_COUNT) == 6)
        assert value(before, DURATION_COUNT) == 6
        assert sum(in_flight_values(before)) == 1
        # An ASGI server's workers serve no WSGI: no worker-thread families (they read as WSGI
        # processes "0 / ?" in gatewatch top's Workers tab), as in a single process.
        assert "gatewatch_wsgi_workers_busy" not in before
        assert "gatewatch_wsgi_saturated_requests_total" not in before
        assert poll(lambda: in_flight_listed(directory, pid))
        # `gatewatch top` with no URL finds the server's workers, one directory for the server,
        # though PROMETHEUS_MULTIPROC_DIR is outside its local root.
        local_root = directory.parent / "run" / "gatewatch"
        assert poll(lambda: [Path(d).name for d in server_dirs([str(local_root)])] == [f"pid-{process.pid}"])
        assert poll(lambda: in_flight_listed(local_root / f"pid-{process.pid}", pid))
        os.kill(pid, signal.SIGKILL)
        # Whichever worker answers (the survivor, or the replacement), and for good.
        # The series reads 0, it does not vanish.
        assert poll(lambda: in_flight_after_a_kill(process.base_url) == [0.0]), scrape(process.base_url)
        assert not poll(lambda: in_flight_values(scrape(process.base_url)) != [0.0], timeout=1.0)
        assert not in_flight_listed(directory, pid)
        # Nothing counted is lost: the dead worker's requests stay in the totals.
        assert value(scrape(process.base_url), DURATION_COUNT) == 6
        # The replacement says what it knows: a worker of this server died, not an earlier run.
        told = f"workers of this server ended without a hook telling gatewatch (pids {pid})"
        assert poll(lambda: told in log.read_text()), log.read_text()
        assert "earlier run" not in log.read_text() and "holds" not in log.read_text()
    finally:
        sock.close()


@pytest.mark.slow
def test_hypercorn_started_again_after_a_worker_was_killed(tmp_path: Path) -> None:
    # hypercorn does not restart a killed worker: the whole server stops. Started again on the
    # same directory (a supervisor, a container restart), the dead worker's open request must
    # not come back as in flight.
    directory = tmp_path / "prom"
    directory.mkdir(mode=0o700)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}

    def hypercorn(name: str) -> ServerProcess:
        port = free_port()
        command = hypercorn_command(APP, port, "--workers", "2")
        log = tmp_path / f"{name}.log"
        return ServerProcess(command, port=port, ready_path="/pid", env=env, cwd=ROOT, log_path=log)

    with hypercorn("first") as first:
        sock, pid = hold_stream(first.port)
        try:
            assert sum(in_flight_values(scrape(first.base_url))) == 1
            os.kill(pid, signal.SIGKILL)
            assert first.process is not None
            assert poll(lambda: first.process is not None and first.process.poll() is not None)
        finally:
            sock.close()
    with hypercorn("second") as second:
        text = scrape_until(second.base_url, lambda text: value(text, DURATION_COUNT) == 2)
    assert in_flight_values(text) == [0.0]
    # An earlier run's counts are added (the ready probes of both runs), and said so.
    assert value(text, DURATION_COUNT) == 2
    # Each worker tells it (no worker speaks for the others, as gunicorn's first one does).
    warnings = [line for line in (tmp_path / "second.log").read_text().splitlines() if " holds " in line]
    assert len(warnings) in (1, 2)
    for warning in warnings:
        assert "processes that ended before this server started (an earlier run's: pids " in warning, warning
        assert str(pid) in warning.split("pids ")[1].split(")")[0].split(", ")
