"""A real scrape passes ``promtool check metrics``, and a real Prometheus server reads it right."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatewatch.demo.servers import LOOPBACK, ServerProcess, free_port, uvicorn_command
from tests.support.prometheus_server import PROMETHEUS, prometheus_process
from tests.support.promtool import promtool_path
from tests.support.traffic import ROOT

# Debian's package puts it in /usr/bin; any other install on PATH does as well.
FAST_REQUESTS = 7
ITEM_REQUESTS = 3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PROMETHEUS.exists(), reason="prometheus is not installed (Debian: apt-get install prometheus)"
    ),
]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def _promtool() -> str:
    found = promtool_path(required=True)
    assert found is not None
    return found


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    python_path = os.environ.get("PYTHONPATH", "")
    server = ServerProcess(
        uvicorn_command("examples.starlette_app:wrapped", port),
        port=port,
        # Scrapes are not recorded, so the readiness probe adds no request to the counts.
        ready_path="/metrics",
        env={"PYTHONPATH": str(ROOT) + (os.pathsep + python_path if python_path else "")},
        cwd=ROOT,
        log_path=tmp_path / "uvicorn.log",
    )
    server.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server.env.pop("prometheus_multiproc_dir", None)
    with server:
        yield server


def test_real_scrape_passes_promtool_and_prometheus_counts_it(
    app_server: ServerProcess, tmp_path: Path
) -> None:
    for _ in range(FAST_REQUESTS):
        assert _get(app_server.base_url + "/fast") == b"fast\n"
    for _ in range(ITEM_REQUESTS):
        _get(app_server.base_url + "/items/1")

    scrape = _get(app_server.base_url + "/metrics")
    assert b'route="/fast"' in scrape
    checked = subprocess.run([_promtool(), "check", "metrics"], input=scrape, capture_output=True, timeout=30)
    print("promtool check metrics:", checked.returncode, checked.stdout.decode(), checked.stderr.decode())
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()

    prometheus_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: gatewatch\n"
        "    static_configs:\n"
        f"      - targets: ['{LOOPBACK}:{app_server.port}']\n"
    )
    prometheus = prometheus_process(config, tmp_path / "data", prometheus_port, directory=tmp_path)
    query = 'sum(gatewatch_http_request_duration_seconds_count{route="/fast"})'
    # The template's spelling ({item_id} or {item_id:int}) is the router's business here.
    items_query = 'sum(gatewatch_http_request_duration_seconds_count{route=~"/items/.+"})'
    with prometheus:
        fast = _poll(prometheus.base_url, query, FAST_REQUESTS, timeout=20.0)
        items = _poll(prometheus.base_url, items_query, ITEM_REQUESTS, timeout=5.0)
    if fast != FAST_REQUESTS:
        print((tmp_path / "prometheus.log").read_text(errors="replace")[-4000:])
    assert fast == FAST_REQUESTS
    assert items == ITEM_REQUESTS


def _poll(base_url: str, query: str, expected: float, *, timeout: float) -> float | None:
    """Query until the result equals ``expected`` or ``timeout`` passes; the last value seen."""
    url = base_url + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    deadline = time.monotonic() + timeout
    last: float | None = None
    while time.monotonic() < deadline:
        try:
            answer = json.loads(_get(url))
        except (OSError, ValueError):
            answer = None
        if answer is not None and answer.get("status") == "success":
            result = answer["data"]["result"]
            if result:
                last = float(result[0]["value"][1])
                if last == expected:
                    return last
        time.sleep(0.25)
    return last
