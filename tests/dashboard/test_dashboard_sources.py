"""``gatewatch top``'s sources: a live endpoint that sends bad JSON, goes away or refuses, a
``/metrics`` page (one process and many) and a Prometheus server's query API."""

from __future__ import annotations

import httpx
import pytest
from gatewatch_dashboard.metrics_source import MetricsSource
from gatewatch_dashboard.prometheus_source import PrometheusSource
from gatewatch_dashboard.sources import LiveSource, RecordedSource
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from tests.support.dashboard_support import (
    ASGI_SOURCE,
    SIZE,
    recorded_app,
    screen_text,
    started,
)
from tests.support.live_fixtures import ASGI_FILE
from tests.support.live_support import ok_asgi

# -- failing sources -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_bad_or_partial_json_never_crashes_and_keeps_the_last_view() -> None:
    good = ASGI_FILE.read_bytes()
    source = RecordedSource(
        ASGI_SOURCE, [good, good[: len(good) // 2], b"<html>502</html>", b'{"schema": 2}', good]
    )
    app = recorded_app([source])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for expected in ("not JSON", "not JSON", "schema 2"):
            await app.poll_once()
            await pilot.pause()
            [reading] = app.readings
            assert reading.error is not None and expected in reading.error
            assert reading.view is not None  # the last good view is still shown
            assert "retrying" in screen_text(app)
        await app.poll_once()
        await pilot.pause()
        assert app.readings[0].error is None


@pytest.mark.anyio
async def test_an_endpoint_that_goes_away_is_named_and_retried() -> None:
    body = ASGI_FILE.read_bytes()
    up = [True]

    def answer(request: httpx.Request) -> httpx.Response:
        if not up[0]:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    source = LiveSource("http://127.0.0.1:8001/_gatewatch/live.json", client=client)
    app = recorded_app([source])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.readings[0].error is None
        up[0] = False
        await app.poll_once()
        await pilot.pause()
        assert "unreachable (connection refused); retrying (its last answer below)" in screen_text(app)
        assert "1 not answering (retrying)" in screen_text(app)
        up[0] = True
        await app.poll_once()
        await pilot.pause()
        assert app.readings[0].error is None
        assert "not answering" not in screen_text(app)


@pytest.mark.anyio
@pytest.mark.usefixtures("no_snapshot_dir")
async def test_a_refusing_live_endpoint_says_why() -> None:
    """No token set on the server, or none sent: the endpoint's one line is on screen."""
    for server_token, sent, expected in (
        (None, "t0ken", "answered HTTP 403: the live view over HTTP is off: set live_token"),
        ("t0ken", None, "answered HTTP 401: unauthorized: send Authorization: Bearer <live_token>"),
    ):
        app = GatewatchASGI(ok_asgi, registry=CollectorRegistry(), live_token=server_token)
        headers = {"Authorization": f"Bearer {sent}"} if sent else {}
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=headers)
        source = LiveSource("http://127.0.0.1:8001/_gatewatch/live.json", client=client)
        reading = await source.read()
        assert reading.error is not None and reading.error.startswith(expected), reading.error
        await source.close()


# -- /metrics and Prometheus -----------------------------------------------------------------


def _scrape(count: int, slow: int) -> str:
    name = "gatewatch_http_request_duration_seconds"
    labels = 'interface="wsgi",method="GET",route="/slow",status="200"'
    return (
        f"# TYPE {name} histogram\n"
        f'{name}_bucket{{{labels},le="0.01"}} {count - slow}\n'
        f'{name}_bucket{{{labels},le="0.1"}} {count}\n'
        f'{name}_bucket{{{labels},le="+Inf"}} {count}\n'
        f"{name}_sum{{{labels}}} {count * 0.02}\n"
        f"{name}_count{{{labels}}} {count}\n"
        "# TYPE gatewatch_wsgi_workers_busy gauge\n"
        'gatewatch_wsgi_workers_busy{pid="11"} 1\n'
        "# TYPE gatewatch_wsgi_workers_capacity gauge\n"
        'gatewatch_wsgi_workers_capacity{pid="11"} 1\n'
    )


def test_a_metrics_page_gives_rates_and_quantiles_between_scrapes() -> None:
    source = MetricsSource("http://127.0.0.1:8002/metrics")
    first = source.reading_from(_scrape(100, 0), now=10.0)
    assert first.interfaces[0].rate is None  # one scrape: no rate yet
    second = source.reading_from(_scrape(150, 50), now=12.0)
    [stats] = second.interfaces
    assert stats.rate == pytest.approx(25.0)
    # Only the 50 requests between the scrapes count, and all of them were slow.
    assert stats.p50 is not None and 0.01 < stats.p50 <= 0.1
    assert (stats.busy, stats.capacity) == (1, 1)
    assert [route.route for route in second.routes] == ["/slow"]
    assert second.workers[0].is_saturated


def test_a_multiprocess_metrics_page_lists_its_worker_processes_only() -> None:
    # As gunicorn -w 2 with gatewatch's hooks scrapes: busy and capacity per pid, the saturated
    # counter summed over the server without one (it was a third worker, pid 0, "0 / ?").
    text = (
        "# TYPE gatewatch_wsgi_workers_busy gauge\n"
        'gatewatch_wsgi_workers_busy{pid="11"} 1\n'
        'gatewatch_wsgi_workers_busy{pid="12"} 0\n'
        "# TYPE gatewatch_wsgi_workers_capacity gauge\n"
        'gatewatch_wsgi_workers_capacity{pid="11"} 4\n'
        'gatewatch_wsgi_workers_capacity{pid="12"} 4\n'
        "# TYPE gatewatch_wsgi_saturated_requests_total counter\n"
        "gatewatch_wsgi_saturated_requests_total 3\n"
    )
    reading = MetricsSource("http://127.0.0.1:8002/metrics").reading_from(text, now=10.0)
    assert [(w.pid, w.busy, w.total) for w in reading.workers] == [(11, 1, 4), (12, 0, 4)]


@pytest.mark.anyio
async def test_prometheus_source_reads_the_query_api() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        asked.append(query)
        value = "0.25" if query.startswith("histogram_quantile(0.95") else "12"
        result = [{"metric": {"interface": "asgi"}, "value": [1.0, value]}]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    source = PrometheusSource("http://prometheus:9090", client=client)
    reading = await source.read()
    assert reading.error is None
    [stats] = reading.interfaces
    assert (stats.interface, stats.rate, stats.p95, stats.processes) == ("asgi", 12.0, 0.25, 12)
    assert any("rate(gatewatch_http_request_duration_seconds_count[1m])" in query for query in asked)
    await source.close()
