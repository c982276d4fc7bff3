"""Under a real uvicorn, with 1 000 routes recorded (in one process, and in multiprocess mode): a
scrape leaves the event loop to other requests while it renders, and gatewatch never counts its
own scrape as the app's loop block."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from gatewatch.demo.servers import ServerProcess, free_port, uvicorn_command
from gatewatch.export.prometheus.scrape_summary import total
from tests.export.prometheus.test_merge import client_scrape
from tests.support.scrape import labels_of, read
from tests.support.traffic import ROOT

pytestmark = pytest.mark.slow

APP = "tests.support.scrape_order_app:wrapped"
BLOCKS = "gatewatch_event_loop_blocks_total"
COUNT = "gatewatch_http_request_duration_seconds_count"


def scrape_with_ping(base_url: str, headers: dict[str, str]) -> tuple[list[str], bytes]:
    """Scrape, and once the scrape's first body bytes arrive, ask /ping; the server's order of
    the scrape's body messages and the ping, and the scrape's body."""
    started = threading.Event()
    body: list[bytes] = []

    def read() -> None:
        with httpx.stream("GET", base_url + "/metrics", headers=headers, timeout=60.0) as response:
            for chunk in response.iter_raw():
                body.append(chunk)
                started.set()
        started.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert started.wait(60.0)
        assert httpx.get(base_url + "/ping", timeout=60.0).text == "pong"
    finally:
        reader.join(60.0)
    order: list[str] = httpx.get(base_url + "/order", timeout=60.0).json()
    return order, b"".join(body)


def ping_during_a_scrape(base_url: str) -> None:
    """A ping sent once a scrape has begun is answered before the scrape's end, and the scrape's
    body went out in many messages, each as it was rendered. A busy machine may still delay the
    ping past the end, so a few scrapes are tried; a scrape rendered in one piece (before its
    first body message) can never let the ping in before its end."""
    orders = []
    for _ in range(3):
        order, _ = scrape_with_ping(base_url, {})
        orders.append(order)
        assert order.count("metrics-end") == 1 and order.count("ping") == 1
        if order.index("ping") < order.index("metrics-end"):
            break
    else:
        pytest.fail(f"no ping was answered during a scrape: {orders}")
    assert order.count("metrics") > 3


def test_scrape_leaves_the_loop_to_requests(tmp_path: Path) -> None:
    port = free_port()
    command = uvicorn_command(APP, port)
    log = tmp_path / "uvicorn.log"
    with ServerProcess(command, port=port, ready_path="/ping", cwd=ROOT, log_path=log) as server:
        base = server.base_url
        httpx.get(base + "/order", timeout=60.0)
        ping_during_a_scrape(base)
        # Checked by promtool and parsed once (about 94 000 series: seconds on a busy machine).
        scraped = read(httpx.get(base + "/metrics", timeout=60.0).text)
        # The user's counter beside gatewatch's families (promtool refuses a family twice).
        assert total(scraped, "user_orders_total") == 3
        assert len(labels_of(scraped, COUNT, "route")) >= 1000
        # gatewatch's own scrapes are no loop block of the app's.
        assert total(scraped, BLOCKS) == 0
    assert "held the event loop" not in log.read_text()


def test_a_multiprocess_scrape_leaves_the_loop_to_requests(tmp_path: Path) -> None:
    """The same under multiprocess mode: the workers' files merged by gatewatch in steps, on the
    loop, with the same samples as prometheus-client's merge of the same files."""
    files = tmp_path / "files"
    files.mkdir()
    port = free_port()
    command = uvicorn_command(APP, port)
    log = tmp_path / "uvicorn.log"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(files)}
    with ServerProcess(command, port=port, ready_path="/ping", cwd=ROOT, log_path=log, env=env) as server:
        base = server.base_url
        httpx.get(base + "/order", timeout=60.0)
        ping_during_a_scrape(base)
        body = httpx.get(base + "/metrics", timeout=60.0).content
        scraped = read(body.decode())
        assert len(labels_of(scraped, COUNT, "route")) >= 1000
        assert total(scraped, BLOCKS) == 0
        # What prometheus-client's merge says of the same files, for the routes recorded before
        # the server started (the loop's lag and the scrapes themselves go on meanwhile).
        found = routes_of(body)
        assert len(found) > 10_000
        assert found == routes_of(client_scrape(files, ""))
    assert "held the event loop" not in log.read_text()


def routes_of(exposition: bytes) -> list[tuple[str, float]]:
    """The samples of the recorded routes (/r...), each as its series (name and labels, as
    written) and value, sorted. Read off the lines, not parsed again: the whole exposition is
    checked and parsed above, and prometheus-client's parser takes seconds a scrape this size;
    both sides write a series' labels in the family's order."""
    samples = []
    for line in exposition.decode().splitlines():
        if 'route="/r' in line and not line.startswith("#"):
            series, _, number = line.rpartition(" ")
            samples.append((series, float(number)))
    return sorted(samples)
