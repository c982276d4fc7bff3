"""WSGI worker saturation under a real gunicorn: two threads, six slow requests at once.

gunicorn's gthread worker runs each request on one of ``--threads`` threads; the rest wait
for a free one. gatewatch reports busy versus total threads, counts the requests that took
the last free thread, and measures how long each request waited from the timestamp its
proxy (here, the test client) put in ``X-Request-Start``.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch._request_queue import environ_key, queue_seconds
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command
from gatewatch.types import Environ, Receive, Scope, Send, StartResponse
from tests.support.asgi_driver import Exchange, http_scope
from tests.support.live_support import BEARER, TOKEN_ENV
from tests.support.scrape import samples, value
from tests.support.traffic import ROOT, gunicorn_config, scrape_until
from tests.support.wsgi_driver import call, make_environ

SLEEP = 0.3


def slow_request(base_url: str) -> float:
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        sent = time.time()
        response = client.get(f"/slow?seconds={SLEEP}", headers={"X-Request-Start": f"t={sent:.6f}"})
        assert response.status_code == 200
        return time.time() - sent


@pytest.mark.slow
@pytest.mark.parametrize("multiprocess", [False, True], ids=["single-process", "multiprocess"])
def test_two_threads_six_slow_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, multiprocess: bool
) -> None:
    # Single-process: only the capacity hook (all of them would switch to multiprocess mode).
    config = gunicorn_config(tmp_path, hooks="*" if multiprocess else "post_worker_init")
    env: dict[str, str] = dict(TOKEN_ENV)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    if multiprocess:
        directory = tmp_path / "multiproc"
        directory.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    port = free_port()
    command = gunicorn_command(
        "examples.flask_app:wrapped", port, "-w", "1", "--threads", "2", "-c", str(config)
    )
    with ServerProcess(
        command, port=port, ready_path="/metrics", env=env, cwd=ROOT, log_path=tmp_path / "gunicorn.log"
    ) as server:
        with ThreadPoolExecutor(max_workers=6) as pool:
            latencies = list(pool.map(lambda _: slow_request(server.base_url), range(6)))
        text = scrape_until(
            server.base_url, lambda t: value(t, "gatewatch_http_request_duration_seconds_count") == 6
        )
        live = httpx.get(server.base_url + "/_gatewatch/live.json", headers=BEARER).json()

    # Two at a time: the last pair waited for two rounds of the first ones.
    assert max(latencies) >= 2.5 * SLEEP
    assert value(text, "gatewatch_wsgi_workers_capacity") == 2
    assert value(text, "gatewatch_wsgi_workers_busy") == 0
    # The second of each pair took the last free thread. (The first of a later pair may find
    # its partner's thread still busy too, or already free: a request leaves in-flight when
    # its response has ended, so only every second one is certain.)
    assert value(text, "gatewatch_wsgi_saturated_requests_total") >= 3
    seconds = [entry for process in live["processes"] for entry in process["per_second"]]
    assert max(entry["concurrency_max"] for entry in seconds) == 1  # busy reached 2 of 2
    assert [p["wsgi_workers"] for p in live["processes"]] == [{"busy": 0, "total": 2}]
    # Four requests queued behind the first two: about 0.3 s twice and 0.6 s twice.
    assert value(text, "gatewatch_http_request_queue_seconds_count", interface="wsgi") == 6
    assert value(text, "gatewatch_http_request_queue_seconds_sum", interface="wsgi") >= 4 * SLEEP
    if multiprocess:
        # One series per worker process.
        pids = {
            dict(labels).get("pid")
            for (name, labels), _ in samples(text).items()
            if name == "gatewatch_wsgi_workers_capacity"
        }
        assert len(pids) == 1 and None not in pids


def test_queue_header_values() -> None:
    now = 1_700_000_000.5
    assert queue_seconds("t=1700000000.25", now) == pytest.approx(0.25)
    assert queue_seconds(b"t=1700000000250", now) == pytest.approx(0.25)  # milliseconds
    assert queue_seconds("1700000000250000", now) == pytest.approx(0.25)  # microseconds
    assert queue_seconds("t=1700000001.0", now) == 0.0  # the proxy's clock is ahead
    assert queue_seconds("soon", now) is None
    assert queue_seconds("t=nan", now) is None
    assert queue_seconds("t=1", now) is None  # 1970: not a queue
    assert environ_key("X-Request-Start") == "HTTP_X_REQUEST_START"


def test_queue_time_in_process_both_interfaces(registry: CollectorRegistry) -> None:
    stamp = f"t={time.time() - 0.25:.6f}"

    def wsgi_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    wsgi = GatewatchWSGI(wsgi_app, registry=registry, worker_threads=3)
    call(wsgi, make_environ("/", HTTP_X_REQUEST_START=stamp))
    call(wsgi, make_environ("/"))  # no header: not observed

    async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    asgi = GatewatchASGI(asgi_app, registry=registry, queue_time_header="X-Request-Start")
    exchange = Exchange()
    scope = http_scope("/", headers=[(b"host", b"x"), (b"x-request-start", stamp.encode())])
    asyncio.run(asgi(scope, exchange.receive, exchange.send))

    for interface in ("wsgi", "asgi"):
        assert value(registry, "gatewatch_http_request_queue_seconds_count", interface=interface) == 1
        assert 0.25 <= value(registry, "gatewatch_http_request_queue_seconds_sum", interface=interface) < 5
    assert value(registry, "gatewatch_wsgi_workers_capacity") == 3
    with pytest.raises(ValueError, match="queue_time_header"):
        GatewatchWSGI(wsgi_app, registry=registry, queue_time_header="X Request Start")
    with pytest.raises(ValueError, match="worker_threads"):
        GatewatchWSGI(wsgi_app, registry=registry, worker_threads=0)
