"""The live view's local channel: each process's snapshot in a directory only its user can open,
refused when someone else could (a name taken first in a shared /tmp, a link, loose modes),
without ever breaking the app; and ``gatewatch top`` with no URL reading it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gatewatch_dashboard.sources import DirectorySource

from gatewatch import GatewatchWSGI, Monitor
from gatewatch.cli import main
from gatewatch.export.live import local_dir, snapshot_files
from gatewatch.export.live.local_dir import local_roots, private_problem, read_dir, server_dirs
from gatewatch.export.live.snapshot_files import write_atomically
from gatewatch.export.live.state import LiveState
from gatewatch.runtime import Runtime
from tests.support.live_support import idle_snapshot, ok_wsgi
from tests.support.wsgi_driver import call, make_environ

pytestmark = pytest.mark.usefixtures("no_snapshot_dir")


@pytest.fixture
def roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """(the runtime root, the temporary-directory root), both under tmp_path."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    return runtime / "gatewatch", temporary / f"gatewatch-{os.getuid()}"


def test_the_roots_both_sides_agree_on(roots: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_roots() == [str(roots[0]), str(roots[1])]
    # A service started without XDG_RUNTIME_DIR writes into the second, which readers also read.
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/path")
    assert local_roots() == [str(roots[1])]


def test_every_process_writes_into_its_own_private_directory(
    roots: tuple[Path, Path], runtime: Runtime
) -> None:
    monitor = Monitor()
    app = GatewatchWSGI(ok_wsgi, monitor=monitor, runtime=runtime)
    state = runtime.live_state(monitor)
    expected = roots[0] / f"pid-{os.getpid()}"
    assert state.snapshot_dir == str(expected)
    for directory in (roots[0], expected):
        assert directory.stat().st_mode & 0o777 == 0o700
    call(app, make_environ("/hello"))
    deadline = time.monotonic() + 10
    while str(expected) not in server_dirs() and time.monotonic() < deadline:
        time.sleep(0.05)
    # What `gatewatch top` with no URL shows: this process, its request.
    reading = asyncio.run(DirectorySource(str(expected)).read())
    assert reading.error is None and reading.view is not None
    [process] = [p for p in reading.view["processes"] if p["recent"]]
    assert process["pid"] == os.getpid()
    assert [r["route_label"] for r in process["recent"]] == ["<unmatched>"]


def _give_away(root: Path) -> None:
    """A name another user took first in a shared /tmp."""
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)


@pytest.mark.parametrize(
    ("prepare", "problem"),
    [
        (lambda root: (root.mkdir(), root.chmod(0o755)), "only its owner may use it"),
        (lambda root: _give_away(root), "belongs to uid 65534"),
        (lambda root: root.symlink_to(root.parent), "is not a directory"),
        (lambda root: root.write_text(""), "is not a directory"),
    ],
)
def test_a_root_someone_else_could_open_is_never_used(
    roots: tuple[Path, Path],
    prepare: object,
    problem: str,
    caplog: pytest.LogCaptureFixture,
    runtime: Runtime,
) -> None:
    if "65534" in problem and os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    for root in roots:
        prepare(root)  # type: ignore[operator]
        assert problem in (private_problem(str(root)) or "")
    monitor = Monitor()
    # The app still starts and serves: the local channel is off, counted and logged once.
    app = GatewatchWSGI(ok_wsgi, monitor=monitor, runtime=runtime)
    assert runtime.live_state(monitor).snapshot_dir is None
    assert monitor.internal_errors == 1 and problem in caplog.text
    assert call(app, make_environ("/hello")).body == b"ok"
    # Readers skip them too.
    assert server_dirs([str(root) for root in roots]) == []


def test_the_next_root_serves_when_the_first_cannot(roots: tuple[Path, Path], runtime: Runtime) -> None:
    """``su`` keeps the other user's XDG_RUNTIME_DIR: this user cannot make its root there."""
    roots[0].parent.chmod(0o500)
    if os.access(roots[0].parent, os.W_OK):
        # root writes anywhere: another user's root then, which is as unusable.
        roots[0].parent.chmod(0o700)
        _give_away(roots[0])
    monitor = Monitor()
    GatewatchWSGI(ok_wsgi, monitor=monitor, runtime=runtime)
    assert runtime.live_state(monitor).snapshot_dir == str(roots[1] / f"pid-{os.getpid()}")
    assert monitor.internal_errors == 0


def test_a_reader_refuses_a_directory_others_can_write(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    with pytest.raises(ValueError, match="can be written by other users"):
        read_dir(str(loose))
    reading = asyncio.run(DirectorySource(str(loose)).read())
    assert reading.error is not None and "can be written by other users" in reading.error


def test_the_directory_goes_when_the_runtime_closes(roots: tuple[Path, Path], runtime: Runtime) -> None:
    monitor = Monitor()
    GatewatchWSGI(ok_wsgi, monitor=monitor, runtime=runtime)
    state = runtime.live_state(monitor)
    state.session_accepted(monitor.start_session("/ws"))  # starts the writer, as a request would
    path = state.snapshot_dir
    assert path is not None and state.snapshot_path is not None
    _wait_for(lambda: os.path.exists(str(state.snapshot_path)), "the snapshot file")
    # A child forked from this process forgets its parent's directory: its close leaves it.
    child = snapshot_files.SnapshotWriter()
    child.adopt_directory(path)
    child.after_fork()
    child.close()
    assert os.path.isdir(path)
    # The process's files go first, then their directory.
    runtime.close()
    assert not os.path.exists(path)


def test_top_with_no_url_and_no_local_server_says_what_to_do(
    roots: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["top"]) == 2
    error = capsys.readouterr().err
    assert str(roots[0]) in error and "--dir" in error and "--token" in error


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_process_directory_is_rewritten_only_while_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unread, the file is only touched (alive for readers); once a reader marks the directory,
    it is rewritten every half second again."""
    monkeypatch.setattr(snapshot_files, "IDLE_REWRITE", 3600.0)
    monitor = Monitor()
    state = LiveState(monitor, snapshot_dir=str(tmp_path), local_only=True)
    monitor.add_sink(state)
    monitor.finish(monitor.start("wsgi", "GET", "/"))

    def recent() -> int:
        if state.snapshot_path is None:
            return 0
        path = Path(state.snapshot_path)
        try:
            return len(json.loads(path.read_bytes())["recent"])
        except (OSError, ValueError):
            return 0

    _wait_for(lambda: recent() == 1, "the first write")
    assert state.snapshot_path is not None
    path = Path(state.snapshot_path)
    monitor.finish(monitor.start("wsgi", "GET", "/"))
    touched = path.stat().st_mtime_ns
    _wait_for(lambda: path.stat().st_mtime_ns > touched, "a touch")
    touched = path.stat().st_mtime_ns
    _wait_for(lambda: path.stat().st_mtime_ns > touched, "another touch")
    assert recent() == 1
    # `gatewatch top` reads it: the next write is whole.
    assert [p["pid"] for p in read_dir(str(tmp_path))["processes"]] == [os.getpid()]
    _wait_for(lambda: recent() == 2, "a whole write once read")
    # The HTTP view of such a process is its own, never its directory's.
    assert state.view()["processes"][0]["pid"] == os.getpid() and len(state.view()["processes"]) == 1


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_killed_servers_directory_is_not_shown_and_goes_at_the_next_start(
    roots: tuple[Path, Path],
) -> None:
    """uvicorn ends by re-raising SIGTERM after its graceful shutdown: no exit hook runs, so its
    directory stays behind; readers do not list it, and the next process to start removes it."""
    root = roots[0]
    root.mkdir(mode=0o700)
    dead, alive = _dead_pid(), os.getppid()
    for pid in (dead, alive):
        directory = root / f"pid-{pid}"
        directory.mkdir(mode=0o700)
        write_atomically(str(directory / f"gatewatch-live-{pid}.json"), idle_snapshot(pid))
    stale = root / f"pid-{alive}" / f"gatewatch-live-{alive}-1.json"
    write_atomically(str(stale), idle_snapshot(alive))
    kept = [root / "gatewatch-prom-x", root / "pid-0", root / "pid-99999999999999999999", root / "pid-x"]
    for directory in kept:
        directory.mkdir(mode=0o700)
    assert server_dirs() == [str(root / f"pid-{alive}")]
    # Stale, the live process's file no longer counts either.
    old = time.time() - 60
    for path in (root / f"pid-{alive}").iterdir():
        os.utime(path, (old, old))
    assert server_dirs() == []
    assert local_dir.remove_dead_servers(str(root)) == [f"pid-{dead}"]
    assert sorted(p.name for p in root.iterdir()) == sorted([f"pid-{alive}", *(p.name for p in kept)])
