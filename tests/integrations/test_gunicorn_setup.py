"""gunicorn ``-w 2`` set up by gatewatch's hooks alone, and refused without them (issue 17).

The servers run on 127.0.0.1 as child processes started by the test, with no
``PROMETHEUS_MULTIPROC_DIR`` from the test's own environment. Each scrape is checked by
``promtool check metrics`` when promtool is installed (tests.support.promtool).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from gatewatch import _multiprocess_dir as md
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command
from tests.support.promtool import check_metrics
from tests.support.scrape import value
from tests.support.traffic import (
    DURATION_COUNT,
    ROOT,
    duration_counts,
    gunicorn_config,
    in_flight_values,
    scrape,
)

FLASK = "examples.flask_app:wrapped"
STARLETTE = "examples.starlette_app:wrapped"
# docs/gunicorn.md's whole gunicorn.conf.py.
DOCUMENTED_CONF = "from gatewatch.integrations.gunicorn import *  # noqa: F403\n"
REQUESTS = 20
SCRAPES = 6
NOT_SET = "gunicorn runs 2 workers but PROMETHEUS_MULTIPROC_DIR is not set"


def documented_conf(directory: Path) -> Path:
    path = directory / "gunicorn.conf.py"
    path.write_text(DOCUMENTED_CONF)
    return path


def server(
    tmp_path: Path,
    name: str,
    app: str,
    *args: str,
    conf: Path | None = None,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    port = free_port()
    extra = list(args) + (["-c", str(conf)] if conf is not None else [])
    # /metrics is gatewatch's own page, not a counted request: the probe leaves no trace.
    return ServerProcess(
        gunicorn_command(app, port, "-w", "2", "--log-level", "info", *extra),
        port=port,
        ready_path="/metrics",
        cwd=ROOT,
        env=env,
        log_path=tmp_path / f"{name}.log",
        stop_timeout=5.0,
    )


def fails_to_start(process: ServerProcess) -> str:
    """Start ``process`` expecting it to exit on its own; its log."""
    try:
        with pytest.raises(RuntimeError, match="server exited"):
            process.start()
    finally:
        # Had it started after all, it must not outlive the test.
        process.stop()
    assert process.log_path is not None
    return process.log_path.read_text()


def send(base_url: str, path: str, count: int = REQUESTS) -> None:
    # Several at once, each on a new connection, so that both workers serve some (a busy sync
    # worker does not accept; a kept-alive connection would stay with one gthread worker).
    with (
        httpx.Client(base_url=base_url, timeout=10.0, headers={"Connection": "close"}) as client,
        ThreadPoolExecutor(4) as pool,
    ):
        statuses = list(pool.map(lambda _: client.get(path).status_code, range(count)))
    assert statuses == [200] * count


def settled_scrape(base_url: str, total: int) -> str:
    """A scrape once every request has finished (a WSGI record ends after the response)."""
    text = scrape(base_url)
    for _ in range(100):
        if value(text, DURATION_COUNT) == total and not any(in_flight_values(text)):
            break
        text = scrape(base_url)
    return text


def served_per_process(directory: Path) -> dict[int, int]:
    """{pid: requests recorded}, from each process's own prometheus-client file."""
    out = {}
    for path in directory.glob("histogram_*.db"):
        merged = MultiProcessCollector.merge([str(path)], accumulate=True)  # type: ignore[no-untyped-call]
        out[int(path.stem.rsplit("_", 1)[1])] = int(
            sum(s.value for metric in merged for s in metric.samples if s.name == DURATION_COUNT)
        )
    return out


def private_dirs(tmpdir: Path) -> list[Path]:
    # Made in the live view's local root (under TMPDIR without XDG_RUNTIME_DIR), where
    # `gatewatch top` finds the workers' snapshots with no URL.
    return sorted((tmpdir / f"gatewatch-{os.getuid()}").glob(md.PRIVATE_PREFIX + "*"))


# -- (a) the documented gunicorn.conf.py alone: whole-server numbers -------------------------

WORKERS = {
    "sync": (FLASK, ("-k", "sync"), "/slow?seconds=0.05", "/slow"),
    "sync-preload": (FLASK, ("-k", "sync", "--preload"), "/slow?seconds=0.05", "/slow"),
    "gthread": (FLASK, ("-k", "gthread", "--threads", "2"), "/slow?seconds=0.05", "/slow"),
    # A blocked event loop accepts nothing, so the other worker takes the next connections.
    "uvicorn": (STARLETTE, ("-k", "uvicorn.workers.UvicornWorker"), "/blocking?seconds=0.05", "/blocking"),
}


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("kind", list(WORKERS))
def test_documented_conf_gives_whole_server_numbers(tmp_path: Path, kind: str) -> None:
    app, args, path, route = WORKERS[kind]
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    # TMPDIR: where the arbiter's private directory goes, to be found (and found gone) here.
    with server(
        tmp_path,
        kind,
        app,
        *args,
        conf=documented_conf(tmp_path),
        env={"TMPDIR": str(tmpdir), "XDG_RUNTIME_DIR": ""},
    ) as running:
        send(running.base_url, path)
        settled = settled_scrape(running.base_url, REQUESTS)
        with ThreadPoolExecutor(2) as pool:
            texts = list(pool.map(lambda _: scrape(running.base_url), range(SCRAPES)))
        made = private_dirs(tmpdir)
        assert len(made) == 1, made
        per_process = served_per_process(made[0])
        master_pid = running.pid

    # gunicorn's uvicorn worker runs uvicorn's server, which gatewatch_info names.
    interface, server_name = ("asgi", "uvicorn") if app == STARLETTE else ("wsgi", "gunicorn")
    for text in [settled, *texts]:
        check_metrics(text)
        assert duration_counts(text, interface) == {("GET", route, "200"): REQUESTS}
        assert value(text, "gatewatch_info", interface=interface, server=server_name) == 1
    # Both workers served part of the traffic, so a per-worker scrape would have shown less.
    workers = {pid: n for pid, n in per_process.items() if pid != master_pid}
    assert len(workers) == 2 and all(workers.values()), per_process
    assert sum(per_process.values()) == REQUESTS
    assert private_dirs(tmpdir) == []


# -- (b) several workers without the hooks: refused at start-up ------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("kind", "app", "args", "old_conf"),
    [
        ("sync", FLASK, ("-k", "sync"), False),
        ("gthread-preload", FLASK, ("-k", "gthread", "--threads", "2", "--preload"), False),
        # The configuration documented before: only child_exit and post_worker_init.
        ("uvicorn-old-conf", STARLETTE, ("-k", "uvicorn.workers.UvicornWorker"), True),
    ],
)
def test_several_workers_without_hooks_fail_to_start(
    tmp_path: Path, kind: str, app: str, args: tuple[str, ...], old_conf: bool
) -> None:
    conf = gunicorn_config(tmp_path, hooks="child_exit, post_worker_init") if old_conf else None
    log = fails_to_start(server(tmp_path, kind, app, *args, conf=conf))
    lines = [line for line in log.splitlines() if NOT_SET in line]
    assert lines, log
    assert lines[0].startswith("ValueError: ")
    assert "-c gunicorn.conf.py containing `from gatewatch.integrations.gunicorn import *`" in lines[0]
    assert "Traceback" in log  # the worker's (or, with --preload, the arbiter's) boot failed


# -- (c) a missing, non-directory or unwritable PROMETHEUS_MULTIPROC_DIR ----------------------


def unwritable_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "read-only"
    directory.mkdir(mode=0o555)
    if os.access(directory, os.W_OK):
        # root writes anywhere its permissions say no; the kernel's own directories it cannot.
        directory = Path("/proc/sys")
        if os.access(directory, os.W_OK):
            pytest.skip("no directory this user cannot write")
    return directory


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("problem", "use_hooks", "message"),
    [
        ("missing", False, "does not exist; create it (empty) before the server starts"),
        ("missing", True, "does not exist; create it (empty) before gunicorn starts"),
        ("file", False, "is not a directory"),
        ("unwritable", True, "is not writable by this process"),
    ],
)
def test_bad_directory_is_one_line(tmp_path: Path, problem: str, use_hooks: bool, message: str) -> None:
    if problem == "missing":
        directory = tmp_path / "missing"
    elif problem == "file":
        directory = tmp_path / "a-file"
        directory.write_text("")
    else:
        directory = unwritable_dir(tmp_path)
    conf = documented_conf(tmp_path) if use_hooks else None
    log = fails_to_start(server(tmp_path, problem, FLASK, conf=conf, env={md.ENV_VAR: str(directory)}))
    expected = f"PROMETHEUS_MULTIPROC_DIR={directory} {message}"
    lines = [line for line in log.splitlines() if expected in line]
    assert lines, log
    # prometheus-client never got as far as its own FileNotFoundError or PermissionError.
    assert "prometheus_client" not in log and "FileNotFoundError" not in log
    if use_hooks:
        # The arbiter refuses before forking: one error line, no traceback.
        assert lines[0].split("] ", 3)[-1].startswith("gatewatch: PROMETHEUS_MULTIPROC_DIR=")
        assert "Traceback" not in log
        assert "Booting worker" not in log
    else:
        assert lines[0].startswith("ValueError: ")


# -- (d) files of an earlier run --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
def test_stale_files_warned_without_hooks_and_cleared_by_them(tmp_path: Path) -> None:
    directory = tmp_path / "multiproc"
    directory.mkdir()
    env = {md.ENV_VAR: str(directory)}

    with server(tmp_path, "first", FLASK, env=env) as first:
        send(first.base_url, "/slow?seconds=0.05")
        settled_scrape(first.base_url, REQUESTS)
    first_pids = sorted(served_per_process(directory))
    assert len(first_pids) == 2

    # Without the hooks the earlier run's counts come back, and the first worker says so.
    with server(tmp_path, "second", FLASK, env=env) as second:
        inherited = scrape(second.base_url)
    log = (tmp_path / "second.log").read_text()
    warnings = [line for line in log.splitlines() if "ended before this server started" in line]
    assert len(warnings) == 1, log
    assert f"PROMETHEUS_MULTIPROC_DIR={directory} holds" in warnings[0]
    assert f"(an earlier run's: pids {', '.join(map(str, first_pids))})" in warnings[0]
    assert value(inherited, DURATION_COUNT) == REQUESTS

    # The hooks empty the directory first: the count starts from zero.
    with server(tmp_path, "third", FLASK, conf=documented_conf(tmp_path), env=env) as third:
        fresh = scrape(third.base_url)
        send(third.base_url, "/fast")
        after = settled_scrape(third.base_url, REQUESTS)
    log = (tmp_path / "third.log").read_text()
    assert f"gatewatch: the workers share PROMETHEUS_MULTIPROC_DIR={directory}; removed" in log
    assert "holds" not in log and "ended without" not in log
    assert value(fresh, DURATION_COUNT) == 0
    assert duration_counts(after, "wsgi") == {("GET", "/fast", "200"): REQUESTS}
