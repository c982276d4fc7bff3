"""One runtime per process: it gives every middleware its monitor, owns the sinks, the snapshot
writer's thread and files, and forgets in a forked child what was the parent's."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor
from gatewatch import catalogue as c
from gatewatch.runtime import Runtime, current
from tests.support.live_support import ok_wsgi
from tests.support.wsgi_driver import call, make_environ


async def asgi_app(scope: object, receive: object, send: object) -> None:
    pass


def test_the_process_has_one_runtime() -> None:
    assert current() is current()
    assert GatewatchWSGI(ok_wsgi, registry=CollectorRegistry()).runtime is current()


def test_a_runtime_of_its_own_shares_nothing_with_the_process(
    registry: CollectorRegistry, runtime: Runtime
) -> None:
    wsgi = GatewatchWSGI(ok_wsgi, registry=registry, runtime=runtime)
    asgi = GatewatchASGI(asgi_app, registry=registry, runtime=runtime)
    # Every middleware of a runtime naming one registry records into one monitor...
    assert wsgi.runtime is runtime and asgi.monitor is wsgi.monitor
    assert runtime.registry_monitor(registry) is wsgi.monitor
    # ...which another runtime cannot register again on that registry.
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Runtime().registry_monitor(registry)
    call(wsgi, make_environ("/a"))
    assert f'{c.metric("duration").name}_count{{interface="wsgi"'.encode() in generate_latest(registry)


def test_close_removes_the_files_and_the_thread_ends(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path))
    runtime = Runtime()
    app = GatewatchWSGI(ok_wsgi, registry=registry, runtime=runtime)
    state = runtime.live_state(app.monitor)
    assert runtime.live_state(app.monitor) is state
    call(app, make_environ("/a"))
    assert state.snapshot_path is not None
    written = Path(state.snapshot_path)
    thread = runtime.snapshots.thread
    assert thread is not None
    deadline = time.monotonic() + 10
    while not written.exists():
        assert time.monotonic() < deadline, "the snapshot was never written"
        time.sleep(0.02)
    runtime.close()
    assert not written.exists()
    thread.join(10)
    assert not thread.is_alive()
    # The monitor keeps counting: closing releases resources, not the app.
    assert call(app, make_environ("/b")).body == b"ok"


def test_a_forked_child_forgets_what_was_the_parents(runtime: Runtime) -> None:
    monitor = Monitor()
    state = runtime.live_state(monitor)
    monitor.finish(monitor.start("wsgi", "GET", "/parent"))
    runtime.worker_capacity.set(4)
    assert runtime.first_time("said")
    runtime.after_fork()
    # The parent's requests, capacity and files are not the child's; its monitor is the same,
    # and what the parent said once is not said again.
    assert runtime.live_state(monitor) is state and state.snapshot()["recent"] == []
    assert runtime.worker_capacity.threads is None
    assert runtime.snapshots.targets == [] and runtime.snapshots.thread is None
    assert not runtime.first_time("said")


def test_the_gunicorn_hook_tells_the_runtime(runtime: Runtime) -> None:
    from types import SimpleNamespace

    from gatewatch.integrations.gunicorn import post_worker_init

    app = GatewatchWSGI(ok_wsgi, registry=CollectorRegistry(), runtime=runtime)
    assert app.monitor.worker_threads is None
    worker = SimpleNamespace(cfg=SimpleNamespace(threads=3, worker_connections=1000))
    post_worker_init(worker, runtime=runtime)
    assert app.monitor.worker_threads == 1  # a SimpleNamespace is no ThreadWorker: sync
    # The process's runtime was not told.
    assert current().worker_capacity.threads is None


def test_two_runtimes_of_one_process_keep_their_own_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWATCH_LIVE_DIR", str(tmp_path))
    first, second = Runtime(), Runtime()
    paths, monitors = [], []
    for runtime in (first, second):
        # Kept: a monitor collected takes its live state, and the state's file, along.
        monitor = Monitor()
        monitors.append(monitor)
        state = runtime.live_state(monitor)
        monitor.finish(monitor.start("wsgi", "GET", "/"))  # the first request starts the writer
        assert state.snapshot_path is not None
        deadline = time.monotonic() + 10
        while not Path(state.snapshot_path).exists():
            assert time.monotonic() < deadline, "the snapshot was never written"
            time.sleep(0.02)
        paths.append(Path(state.snapshot_path))
    assert paths[0] != paths[1]
    second.close()
    assert paths[0].exists() and not paths[1].exists()
    first.close()
    assert not paths[0].exists()
