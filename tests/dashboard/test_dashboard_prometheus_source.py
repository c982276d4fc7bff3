"""``gatewatch top --prometheus``: every instance a real Prometheus scrapes, read through the
shared PromQL of :mod:`gatewatch.queries`, holds the counters its own ``/metrics`` page holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from gatewatch_dashboard.counters import ProcessCounters
from gatewatch_dashboard.metrics_source import MetricsSource
from gatewatch_dashboard.prometheus_source import CONCURRENCY, SERIES, PrometheusSource

from gatewatch.demo.servers import LOOPBACK, ServerProcess
from gatewatch.queries import PROCESS_START, fleet_series, series
from tests.support.prometheus_server import PROMETHEUS
from tests.support.source_servers import (
    ASGI_REQUESTS,
    WSGI_REQUESTS,
    asgi_traffic,
    flask_server,
    flat,
    page,
    prometheus_server,
    settled_page,
    starlette_server,
    wsgi_traffic,
)

# The loop-lag probe goes on sampling after the traffic: its counters differ from one read to
# the next, so they are compared as bounds, not equal.
_LAG = ".lag_"


def _instance(server: ServerProcess) -> str:
    return f"{LOOPBACK}:{server.port}"


def _page_counters(server: ServerProcess, text: str) -> ProcessCounters:
    return MetricsSource(server.base_url + "/metrics").reading_from(text, at=0.0).counters[0]


def _caught_up(found: dict[str, ProcessCounters], pages: dict[str, ProcessCounters]) -> bool:
    """Prometheus scraped every instance after its traffic (and its last session) ended."""
    return set(found) == set(pages) and all(
        {k: c.requests for k, c in found[key].routes.items()}
        == {k: c.requests for k, c in page.routes.items()}
        and found[key].sessions == page.sessions
        and found[key].lag_count >= page.lag_count
        for key, page in pages.items()
    )


@pytest.mark.slow
@pytest.mark.skipif(not PROMETHEUS.exists(), reason="prometheus is not installed (Debian: prometheus)")
@pytest.mark.anyio
async def test_every_instance_reads_what_prometheus_scraped_from_its_page(tmp_path: Path) -> None:
    with (
        starlette_server(tmp_path) as asgi,
        flask_server(tmp_path, workers=2) as wsgi,
        prometheus_server(tmp_path, [asgi, wsgi]) as prometheus,
    ):
        asgi_traffic(asgi.base_url)
        wsgi_traffic(wsgi.base_url)
        servers = {_instance(asgi): asgi, _instance(wsgi): wsgi}
        before = {
            _instance(asgi): _page_counters(asgi, settled_page(asgi.base_url, ASGI_REQUESTS, session=True)),
            _instance(wsgi): _page_counters(wsgi, settled_page(wsgi.base_url, WSGI_REQUESTS)),
        }
        source = PrometheusSource(prometheus.base_url)
        deadline = time.monotonic() + 30
        while True:
            reading = await source.read()
            found = {c.key: c for c in reading.counters}
            if reading.error is None and _caught_up(found, before):
                break
            assert time.monotonic() < deadline, reading.error or "Prometheus never scraped the traffic"
            await asyncio.sleep(0.2)
        after = {key: _page_counters(server, page(server.base_url)) for key, server in servers.items()}
        await source.close()

    assert reading.at is not None and all(c.at == reading.at for c in reading.counters)
    assert {route: c.requests for (_, route), c in found[_instance(asgi)].routes.items()} == ASGI_REQUESTS
    assert {route: c.requests for (_, route), c in found[_instance(wsgi)].routes.items()} == WSGI_REQUESTS
    for key, page_counters in after.items():
        fleet, own = flat(found[key]), flat(page_counters)
        assert set(fleet) == set(own), key
        for path, number in own.items():
            if _LAG not in path:
                # Sums over labels in another order: equal up to the last bits of a float.
                assert fleet[path] == pytest.approx(number, rel=1e-12, abs=1e-15), (key, path)
        assert before[key].lag_count <= found[key].lag_count <= page_counters.lag_count
        assert found[key].lag_bounds == page_counters.lag_bounds
    # The uvicorn process's start, from prometheus-client's process collector; none under gunicorn.
    assert found[_instance(asgi)].started == after[_instance(asgi)].started is not None
    assert found[_instance(wsgi)].started is None
    # Gauges now: each interface over the fleet, workers per instance and pid.
    assert [(s.interface, s.processes, s.in_flight) for s in reading.interfaces] == [
        ("asgi", 1, 0),
        ("wsgi", 1, 0),
    ]
    rows = {row.source: row for row in reading.workers}
    assert set(rows) == {_instance(asgi), _instance(wsgi)}  # the gunicorn instance: a row per worker pid
    assert (rows[_instance(asgi)].wsgi, rows[_instance(asgi)].servers) == (False, "asgi: uvicorn")
    assert all(row.total == 1 and row.wsgi for row in reading.workers if row.source == _instance(wsgi))


@pytest.mark.anyio
async def test_the_queries_run_at_one_instant_a_few_at_a_time() -> None:
    asked: list[tuple[str, str]] = []
    running = [0, 0]  # now, most at once

    async def answer(request: httpx.Request) -> httpx.Response:
        running[0] += 1
        running[1] = max(running)
        await asyncio.sleep(0.001)
        running[0] -= 1
        query = request.url.params["query"]
        asked.append((query, request.url.params["time"]))
        result = []
        if query == SERIES[series("duration", "_count")]:
            labels = {"instance": "a:1", "interface": "asgi", "route": "/", "status": "200"}
            result = [{"metric": labels, "value": [1.0, "7"]}]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    source = PrometheusSource(
        "http://prometheus:9090/", client=httpx.AsyncClient(transport=httpx.MockTransport(answer))
    )
    reading = await source.read()
    await source.close()
    assert reading.error is None, reading.error
    assert sorted(query for query, _ in asked) == sorted(fleet_series().values())
    assert len({at for _, at in asked}) == 1 and reading.at == pytest.approx(float(asked[0][1]), abs=1e-3)
    assert 1 < running[1] <= CONCURRENCY
    [counters] = reading.counters
    assert counters.key == "a:1" and counters.routes["asgi", "/"].requests == 7


@pytest.mark.anyio
async def test_a_prometheus_without_gatewatch_series_says_so() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        # Some other exporter's process start, no gatewatch series.
        start = request.url.params["query"] == SERIES[PROCESS_START]
        result = [{"metric": {"instance": "a:1"}, "value": [1.0, "3"]}] if start else []
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    source = PrometheusSource(
        "http://prometheus:9090", client=httpx.AsyncClient(transport=httpx.MockTransport(answer))
    )
    reading = await source.read()
    await source.close()
    assert reading.error is not None and reading.error.startswith("no gatewatch series in Prometheus")
