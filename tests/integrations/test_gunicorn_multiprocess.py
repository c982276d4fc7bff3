"""End to end under a real gunicorn: two sync workers merged through prometheus-client's
multiprocess files, and a client leaving a streamed WSGI response half way.

The Flask example app runs wrapped by ``GatewatchWSGI`` (``examples.flask_app:wrapped``) on
127.0.0.1; every count is checked against the traffic the test sent, including the ready probe
of :class:`~gatewatch.demo.servers.ServerProcess` (one ``GET /fast``).
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from gatewatch.demo.servers import LOOPBACK, ServerProcess, free_port, gunicorn_command
from tests.support.scrape import value
from tests.support.traffic import (
    DURATION_COUNT,
    ROOT,
    Call,
    duration_counts,
    gunicorn_config,
    in_flight_values,
    scrape,
    scrape_until,
)

pytestmark = pytest.mark.slow

APP = "examples.flask_app:wrapped"
MIB = 1024 * 1024
ECHO_BODY = b"gatewatch multiprocess " * 40  # 920 bytes
DISCONNECTS = "gatewatch_http_disconnects_total"
EXCEPTIONS = "gatewatch_http_exceptions_total"
REQUEST_BYTES = "gatewatch_http_request_body_bytes_total"
RESPONSE_BYTES = "gatewatch_http_response_body_bytes_total"
ITEM_ROUTE = "/items/<int:item_id>"
CONCURRENCY = 8
SCRAPES = 6

# gunicorn's access log, with the pid of the worker that served each request.
ACCESS_FORMAT = "%(p)s %(m)s %(U)s %(s)s"
ACCESS_LINE = re.compile(r"^<(\d+)> (\S+) (\S+) (\d{3})$")


def traffic_mix(seed: int = 80) -> list[Call]:
    """80 requests over every kind of endpoint, shuffled reproducibly (10 % errors)."""
    calls: list[Call] = []
    calls += [Call("GET", "/fast", "/fast", 200)] * 14
    calls += [Call("GET", f"/items/{n}", ITEM_ROUTE, 200) for n in range(14)]
    calls += [Call("GET", "/slow?seconds=0.01", "/slow", 200)] * 10
    calls += [Call("GET", "/stream?chunks=5&delay=0.01", "/stream", 200)] * 10
    calls += [Call("GET", "/error", "/error", 500)] * 8
    calls += [Call("GET", "/large", "/large", 200)] * 6
    calls += [Call("POST", "/echo", "/echo", 200, ECHO_BODY)] * 8
    calls += [Call("GET", "/nope", "<unmatched>", 404)] * 10
    random.Random(seed).shuffle(calls)
    return calls


def count_of(calls: list[Call], route: str) -> int:
    return sum(1 for call in calls if call.route == route)


def send(client: httpx.Client, call: Call) -> None:
    response = client.request(call.method, call.path, content=call.body or None)
    assert response.status_code == call.status, (call, response.text[:200])
    if call.route == "/large":
        assert len(response.content) == MIB
    elif call.route == "/echo":
        assert response.content == ECHO_BODY
    elif call.route == "/stream":
        assert response.content == b"".join(f"chunk {i}\n".encode() for i in range(5))


def served_by(access_log: Path) -> dict[str, set[int]]:
    """{path: pids of the workers that served it}, from gunicorn's access log."""
    out: dict[str, set[int]] = {}
    for line in access_log.read_text().splitlines():
        match = ACCESS_LINE.match(line.strip())
        if match is not None:
            out.setdefault(match.group(3), set()).add(int(match.group(1)))
    return out


def test_gunicorn_two_workers_merge_exactly(tmp_path: Path) -> None:
    multiproc_dir = tmp_path / "prometheus_multiproc"
    multiproc_dir.mkdir()
    config = gunicorn_config(tmp_path)
    access_log = tmp_path / "access.log"
    calls = traffic_mix()
    port = free_port()
    command = gunicorn_command(
        APP,
        port,
        "-w",
        "2",
        "-c",
        str(config),
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        ACCESS_FORMAT,
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    with ServerProcess(
        command, port=port, ready_path="/fast", env=env, cwd=ROOT, log_path=tmp_path / "gunicorn.log"
    ) as server:
        with (
            httpx.Client(base_url=server.base_url, timeout=10.0) as client,
            ThreadPoolExecutor(max_workers=CONCURRENCY) as pool,
        ):
            for future in [pool.submit(send, client, call) for call in calls]:
                future.result()

        expected = Counter(call.key for call in calls)
        expected[("GET", "/fast", "200")] += 1  # ServerProcess's ready probe

        def settled(text: str) -> bool:
            return duration_counts(text, "wsgi") == dict(expected) and not any(in_flight_values(text))

        scrape_until(server.base_url, settled)
        # Every scrape, whichever worker answers it, merges both workers' files.
        with ThreadPoolExecutor(max_workers=2) as pool:
            texts = list(pool.map(lambda _: scrape(server.base_url), range(SCRAPES)))
        master_pid = server.pid

    for text in texts:
        assert duration_counts(text, "wsgi") == dict(expected)
        assert value(text, DURATION_COUNT) == len(calls) + 1
        errors = count_of(calls, "/error")
        # Flask turns the RuntimeError into a 500 page; gatewatch still counts it.
        assert value(text, EXCEPTIONS, interface="wsgi", route="/error", exception="RuntimeError") == errors
        assert value(text, EXCEPTIONS) == errors
        assert value(text, RESPONSE_BYTES, route="/large", method="GET") == count_of(calls, "/large") * MIB
        echo_bytes = count_of(calls, "/echo") * len(ECHO_BODY)
        assert value(text, REQUEST_BYTES, route="/echo", method="POST") == echo_bytes
        assert value(text, RESPONSE_BYTES, route="/echo", method="POST") == echo_bytes
        assert value(text, REQUEST_BYTES) == echo_bytes
        assert value(text, DISCONNECTS) == 0
        assert in_flight_values(text)
        assert not any(in_flight_values(text))
        assert value(text, "gatewatch_info", interface="wsgi", server="gunicorn") == 1

    # Both workers served traffic (so the exact totals above needed both files), and each
    # of them left its own files in the multiprocess directory.
    workers = served_by(access_log)
    traffic_pids = set().union(*(pids for path, pids in workers.items() if path != "/metrics"))
    assert len(traffic_pids) == 2, workers
    assert master_pid not in traffic_pids
    files = {path.name for path in multiproc_dir.iterdir()}
    for pid in traffic_pids:
        assert f"histogram_{pid}.db" in files, files
        assert f"counter_{pid}.db" in files, files


def read_first_chunk_then_close(port: int, path: str) -> bytes:
    """A raw HTTP/1.1 client that leaves after the first chunk of a streamed response."""
    with socket.create_connection((LOOPBACK, port), timeout=5.0) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n\r\n".encode())
        received = b""
        while b"chunk 0\n" not in received:
            part = sock.recv(4096)
            assert part, f"server closed before the first chunk: {received!r}"
            received += part
    return received


def test_gunicorn_sync_worker_client_disconnect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One sync worker, in-process (single process) aggregation.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    port = free_port()
    command = gunicorn_command(APP, port, "-w", "1", "--worker-class", "sync")
    with ServerProcess(
        command, port=port, ready_path="/fast", cwd=ROOT, log_path=tmp_path / "gunicorn.log"
    ) as server:
        assert "PROMETHEUS_MULTIPROC_DIR" not in server.env
        head = read_first_chunk_then_close(port, "/stream?chunks=50&delay=0.05")
        assert head.startswith(b"HTTP/1.1 200 "), head
        left_at = time.monotonic()

        def settled(text: str) -> bool:
            return value(text, DISCONNECTS, route="/stream") >= 1 and not any(in_flight_values(text))

        # The worker notices on its next writes and closes the iterable; the whole stream
        # would take 2.5 s, so seeing the disconnect well before that means it was noticed.
        text = scrape_until(server.base_url, settled, timeout=5.0)
        noticed_after = time.monotonic() - left_at

    assert value(text, DISCONNECTS, interface="wsgi", route="/stream") == 1
    assert value(text, DISCONNECTS) == 1
    assert duration_counts(text, "wsgi") == {("GET", "/fast", "200"): 1, ("GET", "/stream", "499"): 1}
    assert value(text, EXCEPTIONS) == 0
    assert not any(in_flight_values(text))
    # Only what was really handed to the server counts: a few chunks of 8 bytes, not 50.
    streamed = value(text, RESPONSE_BYTES, route="/stream")
    assert 8 <= streamed < 50 * 8
    assert noticed_after < 2.0
