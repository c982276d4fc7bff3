"""One of everything through a monitor, and the families a scrape exports: the checks of the
catalogue, of promtool and of the histogram choice share them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import catalogue as c
from gatewatch.monitor import Monitor
from gatewatch.record import ACCEPTED, CLIENT, REJECTED, SERVER
from tests.support.scrape import samples
from tests.support.traffic import ROOT

# Every family name as it appears in an exposition (counters with _total, info with _info).
FAMILIES = {spec.name for spec in c.METRICS}


def feed(monitor: Monitor) -> None:
    """One of everything: requests of both interfaces with every optional number, loop lag and
    a block, WebSocket sessions accepted (closed each way) and rejected, an internal error."""
    monitor.note_server("asgi", "uvicorn")
    monitor.note_worker_threads(2)
    for interface in ("asgi", "wsgi"):
        record = monitor.start(interface, "GET", "/items/1")
        record.route = "/items/{id}"
        record.status = 200
        record.cpu = 0.001
        record.first_byte = record.start + 0.002
        record.request_bytes, record.response_bytes = 10, 20
        record.offload, record.offload_queue, record.thread_hops = 0.003, 0.0001, 2
        record.view, record.view_kind = "app.views.item", "sync"
        record.queue = 0.004
        record.response_ended()
        monitor.leave_in_flight(record)
        monitor.finish(record, time.perf_counter() + 0.001)
        failed = monitor.start(interface, "POST", "/items/1")
        failed.exception = RuntimeError("boom")
        failed.disconnected = interface == "asgi"
        monitor.finish(failed)
    monitor.loop_lag(0.002)
    monitor.loop_block("/items/{id}", 0.06, ["app.py:1 in view"])
    for code, initiator in ((1000, CLIENT), (4001, SERVER)):
        session = monitor.start_session("/ws")
        session.route = "/ws"
        session.outcome = ACCEPTED
        session.accepted_at = time.perf_counter()
        monitor.session_accepted(session)
        session.received_text, session.sent_binary, session.received_bytes, session.sent_bytes = 1, 1, 3, 4
        session.close_by(initiator, code)
        session.exception = ValueError("in the consumer") if initiator == SERVER else None
        monitor.finish_session(session)
    rejected = monitor.start_session("/ws")
    rejected.outcome = REJECTED
    monitor.finish_session(rejected)
    monitor.report_internal_error("test", RuntimeError("counted"))


def exported_families(text: str) -> set[str]:
    names = set()
    for name, _ in samples(text):
        for suffix in ("_bucket", "_count", "_sum", "_created"):
            if name.endswith(suffix) and name.removesuffix(suffix) in FAMILIES:
                name = name.removesuffix(suffix)
        names.add(name)
    return names


def run_multiprocess(directory: Path, target: str) -> str:
    """``target`` (``module:function``) run in a process with PROMETHEUS_MULTIPROC_DIR set
    (prometheus-client picks its file-backed values at import); what it returned."""
    module, function = target.split(":")
    script = f"from {module} import {function} as f; print(f(), end='')"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def multiprocess_exposition() -> str:
    """Run in a process started with PROMETHEUS_MULTIPROC_DIR set (prometheus-client picks its
    file-backed values at import): feed a multiprocess sink, merge the files, expose."""
    from prometheus_client import multiprocess

    from gatewatch.export.prometheus.multiprocess import MultiprocessSink

    sink = MultiprocessSink()
    monitor = Monitor(sinks=(sink,))
    sink.note_server("wsgi", "gunicorn")
    feed(monitor)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry).decode()
