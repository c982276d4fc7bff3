"""The gunicorn integration's helpers, in process: where this process stands in a gunicorn
server, the single-process check, the arbiter's private directory, files of an earlier run,
and the hooks' behaviour with fake workers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import values

import gatewatch.integrations.gunicorn as hooks
from gatewatch import GatewatchWSGI
from gatewatch import _multiprocess_dir as md
from gatewatch import _processes as processes
from gatewatch.integrations._gunicorn_process import GunicornProcess, gunicorn_process
from gatewatch.runtime import Runtime

NOT_SET = "gunicorn runs 2 workers but PROMETHEUS_MULTIPROC_DIR is not set"


@pytest.mark.parametrize(
    ("name", "pid"),
    [
        ("counter_123.db", 123),
        ("histogram_7.db", 7),
        ("gauge_livesum_4567.db", 4567),
        ("gauge_liveall_89.db", 89),
        ("gauge_max_1.db", 1),
        ("counter_0.db", None),
        ("counter_x.db", None),
        ("counter_12.db.tmp", None),
        ("gatewatch_labels_routes.jsonl", None),
        ("gatewatch-live-12.json", None),
    ],
)
def test_file_pid(name: str, pid: int | None) -> None:
    assert md.file_pid(name) == pid


@pytest.fixture
def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    pid = int(child.stdout)
    assert not processes.process_running(pid)
    return pid


def test_stale_files(tmp_path: Path, dead_pid: int) -> None:
    names = [
        f"counter_{dead_pid}.db",
        f"gauge_livesum_{dead_pid}.db",
        f"counter_{os.getppid()}.db",
        f"histogram_{os.getpid()}.db",
        "notes.db",
        "gatewatch_labels_routes.jsonl",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert md.stale_files(str(tmp_path)) == [f"counter_{dead_pid}.db", f"gauge_livesum_{dead_pid}.db"]


@pytest.mark.skipif(
    processes.process_started(os.getpid()) is None, reason="no /proc to tell when a process started"
)
def test_files_older_than_their_running_process_are_stale(tmp_path: Path) -> None:
    # The id is reused (a restarted container's workers get the same pids): older files are
    # an earlier process's.
    started = processes.process_started(os.getpid())
    assert started is not None and started <= time.time()
    older = tmp_path / f"histogram_{os.getpid()}.db"
    older.write_bytes(b"")
    os.utime(older, (started - 10, started - 10))
    (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"")  # written by this very process
    assert md.stale_files(str(tmp_path)) == [older.name]


def test_clear_run_files_keeps_other_files(tmp_path: Path) -> None:
    run = ["counter_5.db", "gauge_max_6.db", "gatewatch_labels_routes.jsonl", "gatewatch-live-5.json"]
    for name in [*run, "README.txt", "labels.jsonl"]:
        (tmp_path / name).write_text("x")
    assert md.clear_run_files(str(tmp_path)) == sorted(run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.txt", "labels.jsonl"]


def test_warn_stale_files(
    tmp_path: Path, dead_pid: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / f"counter_{dead_pid}.db").write_bytes(b"")
    with caplog.at_level("WARNING", logger="gatewatch"):
        assert md.warn_stale_files(str(tmp_path)) == [f"counter_{dead_pid}.db"]
    [record] = caplog.records
    message = record.getMessage()
    assert record.name == "gatewatch" and record.levelname == "WARNING"
    # This process is no server's worker: whose the file was, it cannot tell.
    assert f"PROMETHEUS_MULTIPROC_DIR={tmp_path} holds 1 files of 1 processes that are not running" in message
    assert f"(pids {dead_pid}): their counters" in message and "\n" not in message


@pytest.mark.parametrize("problem", ["empty", "missing", "file", "unwritable"])
def test_directory_problem_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str) -> None:
    path = {
        "empty": "",
        "missing": str(tmp_path / "nope"),
        "file": str(tmp_path / "f"),
        "unwritable": str(tmp_path),
    }[problem]
    if problem == "file":
        Path(path).write_text("")
    if problem == "unwritable":
        monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    message = md.directory_problem("PROMETHEUS_MULTIPROC_DIR", path)
    assert message is not None and "\n" not in message
    assert message.startswith("PROMETHEUS_MULTIPROC_DIR" + (f"={path} " if path else " "))
    assert {
        "empty": "set but empty",
        "missing": "does not exist",
        "file": "not a directory",
        "unwritable": "not writable",
    }[problem] in message


def test_good_directory_has_no_problem(tmp_path: Path) -> None:
    assert md.directory_problem("PROMETHEUS_MULTIPROC_DIR", str(tmp_path)) is None


@pytest.mark.usefixtures("clean_env")
def test_middleware_refuses_a_missing_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "missing"
    monkeypatch.setenv(md.ENV_VAR, str(missing))
    with pytest.raises(ValueError, match=re.escape(f"PROMETHEUS_MULTIPROC_DIR={missing} does not exist; ")):
        GatewatchWSGI(lambda environ, start_response: [])


@pytest.mark.usefixtures("clean_env")
def test_lower_case_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(md.ENV_VAR.lower(), str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"^prometheus_multiproc_dir="):
        md.check_directory()


@pytest.mark.usefixtures("clean_env")
def test_empty_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # prometheus-client would take it for multiprocess mode and write into the working directory.
    monkeypatch.setenv(md.ENV_VAR, "")
    with pytest.raises(ValueError, match=r"^PROMETHEUS_MULTIPROC_DIR is set but empty"):
        md.check_single_process()


def fake_worker(workers: int, age: int) -> Any:
    from gunicorn.config import Config
    from gunicorn.workers.base import Worker

    class Probe(Worker):  # type: ignore[misc]
        def load_wsgi(self) -> Any:
            # Where gunicorn loads the application: the worker is on the stack.
            return gunicorn_process()

        def check(self) -> None:
            md.check_single_process()

    cfg = Config()
    cfg.set("workers", workers)
    return Probe(age, os.getpid(), [], None, 30, cfg, None)


@pytest.fixture
def worker_factory() -> Iterator[Any]:
    made: list[Any] = []

    def make(workers: int, age: int = 1) -> Any:
        made.append(fake_worker(workers, age))
        return made[-1]

    yield make
    for worker in made:
        worker.tmp.close()


@pytest.mark.usefixtures("clean_env")
def test_gunicorn_process_from_the_stack(worker_factory: Any) -> None:
    assert gunicorn_process() is None
    assert worker_factory(3, age=4).load_wsgi() == GunicornProcess(workers=3, worker_age=4)


@pytest.mark.usefixtures("clean_env")
def test_check_single_process_under_gunicorn(worker_factory: Any) -> None:
    worker_factory(1).check()
    md.check_single_process()  # not under gunicorn
    expected = f"{NOT_SET}, so each scrape would show one worker's numbers; "
    with pytest.raises(ValueError, match=re.escape(expected)):
        worker_factory(2).check()


@pytest.fixture
def workers(runtime: Runtime) -> md.WorkersDirectory:
    """The workers' directory of a new arbiter process (the test's runtime's)."""
    return runtime.workers_directory


@pytest.fixture
def fresh_arbiter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_env: None) -> Path:
    """The workers' directory prepared under tmp_path, prometheus-client's value class
    restored afterwards."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    return tmp_path


def test_prepare_makes_and_removes_a_private_directory(
    fresh_arbiter: Path, workers: md.WorkersDirectory
) -> None:
    message = workers.prepare()
    path = os.environ[md.ENV_VAR]
    # In the live view's local root, private to this user.
    assert os.path.dirname(path) == str(fresh_arbiter / f"gatewatch-{os.getuid()}")
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    assert os.path.basename(path).startswith(md.PRIVATE_PREFIX)
    assert message == (
        f"gatewatch: the workers share PROMETHEUS_MULTIPROC_DIR={path} (removed when gunicorn exits)"
    )
    assert os.environ[md.PRIVATE_ENV_VAR] == path
    # prometheus-client was imported long before: its metrics now write into the directory.
    assert values.ValueClass._multiprocess
    # Once per arbiter: a later nworkers_changed (TTIN) or on_starting changes nothing.
    assert workers.prepare() is None
    assert workers.private == path
    workers.remove()
    assert not os.path.exists(path)
    assert md.ENV_VAR not in os.environ and md.PRIVATE_ENV_VAR not in os.environ


def test_prepare_clears_a_given_directory(
    fresh_arbiter: Path, workers: md.WorkersDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = fresh_arbiter / "given"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"")
    (given / "keep.txt").write_text("")
    monkeypatch.setenv(md.ENV_VAR, str(given))
    assert workers.prepare() == (
        f"gatewatch: the workers share PROMETHEUS_MULTIPROC_DIR={given}; removed 1 files of an earlier run"
    )
    assert [p.name for p in given.iterdir()] == ["keep.txt"]
    assert workers.private is None
    workers.remove()
    assert given.exists()


def test_prepare_after_usr2_keeps_the_files(
    fresh_arbiter: Path, workers: md.WorkersDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = fresh_arbiter / "given"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"")
    monkeypatch.setenv(md.ENV_VAR, str(given))
    workers.prepare(reexecuted=True)
    assert (given / "counter_1.db").exists()


def test_prepare_replaces_an_inherited_private_directory(
    fresh_arbiter: Path, workers: md.WorkersDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A master re-executed by USR2 inherits the old master's private directory, which the old
    # master removes when it exits.
    inherited = fresh_arbiter / (md.PRIVATE_PREFIX + "old")
    inherited.mkdir()
    monkeypatch.setenv(md.ENV_VAR, str(inherited))
    monkeypatch.setenv(md.PRIVATE_ENV_VAR, str(inherited))
    workers.prepare(reexecuted=True)
    assert os.environ[md.ENV_VAR] not in ("", str(inherited))
    workers.remove()
    assert inherited.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_prepare_hands_the_directory_to_the_workers_user(
    fresh_arbiter: Path, workers: md.WorkersDirectory
) -> None:
    workers.prepare(owner=(65534, 65534))
    assert os.stat(os.environ[md.ENV_VAR]).st_uid == 65534
    workers.remove()


def test_prepare_refuses_a_missing_directory(
    fresh_arbiter: Path, workers: md.WorkersDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(md.ENV_VAR, str(fresh_arbiter / "missing"))
    with pytest.raises(ValueError, match=r"does not exist; create it .* or unset it \(gatewatch's hooks"):
        workers.prepare()


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def error(self, message: str, *args: object) -> None:
        self.lines.append(("error", message % args))

    def warning(self, message: str, *args: object) -> None:
        self.lines.append(("warning", message % args))

    def info(self, message: str, *args: object) -> None:
        self.lines.append(("info", message % args))


def fake_arbiter(*, preload: bool = False) -> Any:
    cfg = types.SimpleNamespace(uid=os.geteuid(), gid=os.getegid(), preload_app=preload)
    return types.SimpleNamespace(log=FakeLog(), cfg=cfg)


def test_hooks_fail_the_arbiter_with_one_line(
    fresh_arbiter: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(md.ENV_VAR, str(fresh_arbiter / "missing"))
    arbiter = fake_arbiter()
    with pytest.raises(SystemExit) as exited:
        hooks.nworkers_changed(arbiter, 2, None, runtime=runtime)
    assert exited.value.code == 1
    [(level, line)] = arbiter.log.lines
    assert level == "error"
    assert line.startswith(f"gatewatch: PROMETHEUS_MULTIPROC_DIR={fresh_arbiter}/missing does not exist")


def test_hooks_set_up_then_remove(fresh_arbiter: Path, runtime: Runtime) -> None:
    arbiter = fake_arbiter()
    hooks.nworkers_changed(arbiter, 2, None, runtime=runtime)
    hooks.on_starting(arbiter, runtime=runtime)
    path = os.environ[md.ENV_VAR]
    assert arbiter.log.lines == [
        (
            "info",
            f"gatewatch: the workers share PROMETHEUS_MULTIPROC_DIR={path} (removed when gunicorn exits)",
        )
    ]
    hooks.on_exit(arbiter, runtime=runtime)
    assert not os.path.exists(path)


def test_on_starting_after_preload_does_not_switch(fresh_arbiter: Path, runtime: Runtime) -> None:
    # A configuration with its own nworkers_changed and --preload: the app already records in
    # memory, so moving the workers to files now would empty every scrape.
    arbiter = fake_arbiter(preload=True)
    hooks.on_starting(arbiter, runtime=runtime)
    assert md.ENV_VAR not in os.environ
    [(level, line)] = arbiter.log.lines
    assert level == "warning" and "nworkers_changed" in line


def test_star_import_brings_the_hooks() -> None:
    assert sorted(hooks.__all__) == [
        "child_exit",
        "nworkers_changed",
        "on_exit",
        "on_starting",
        "post_worker_init",
        "when_ready",
    ]
    from gunicorn.config import Config

    cfg = Config()
    # gunicorn checks each hook's number of arguments when it reads the configuration.
    for name in hooks.__all__:
        cfg.set(name, getattr(hooks, name))
