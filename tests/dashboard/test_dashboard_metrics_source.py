"""``gatewatch top``'s ``/metrics`` source: the page's cumulative counters, exactly as the page
holds them (whatever the series preset), its gauges now, and a page that is not gatewatch's.

Real apps under uvicorn and gunicorn (multiprocess) with known traffic; recorded page text for
the edge cases."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from gatewatch_dashboard.counters import SessionCounters, SiteCounters
from gatewatch_dashboard.metrics_source import PAGE, MetricsSource

from gatewatch import _buckets as b
from gatewatch.queries import PROCESS_START, series
from tests.support.scrape import label_values, value
from tests.support.source_servers import (
    ASGI_REQUESTS,
    BLOCKING_ROUTE,
    WS_MESSAGES,
    WS_ROUTE,
    WSGI_REQUESTS,
    asgi_traffic,
    flask_server,
    settled_page,
    starlette_server,
    wsgi_traffic,
)

COUNT, SUM, BUCKET = series("duration", "_count"), series("duration", "_sum"), series("duration", "_bucket")


def _source(base_url: str) -> MetricsSource:
    return MetricsSource(base_url + "/metrics")


# -- a real page -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_counters_of_a_uvicorn_page_are_the_pages_numbers_for_both_presets(tmp_path: Path) -> None:
    counts = {}
    for preset in ("lean", "full"):
        with starlette_server(tmp_path, preset) as server:
            asgi_traffic(server.base_url)
            text = settled_page(server.base_url, ASGI_REQUESTS, session=True)
            source = _source(server.base_url)
            reading = await source.read()
            await source.close()
        assert reading.error is None, reading.error
        assert reading.at is not None
        [live] = reading.counters
        # Over HTTP, as read after the traffic (what only grows while nothing is sent: requests).
        assert {route: c.requests for (_, route), c in live.routes.items()} == ASGI_REQUESTS
        # The same page's text read at one time: every number is the page's.
        [counters] = source.reading_from(text, at=123.0).counters
        assert (counters.key, counters.at) == (PAGE, 123.0)
        assert counters.started == value(text, PROCESS_START)
        assert counters.duration_bounds == b.REQUEST
        for (interface, route), route_counters in counters.routes.items():
            labels = {"interface": interface, "route": route}
            assert route_counters.requests == value(text, COUNT, **labels) == ASGI_REQUESTS[route]
            assert route_counters.duration_sum == pytest.approx(value(text, SUM, **labels), rel=1e-12)
            assert route_counters.buckets == tuple(
                value(text, BUCKET, le=bound, **labels) for bound in (*map(str, b.REQUEST), "+Inf")
            )
            assert route_counters.blocking_sum == pytest.approx(
                value(text, series("route_blocking"), **labels)
            )
            assert route_counters.cpu_samples == value(text, series("route_cpu_samples"), **labels)
            assert route_counters.cpu_sum == pytest.approx(value(text, series("route_cpu"), **labels))
            if preset == "full":  # the per-route histogram sums the same time as the counter
                per_route = value(text, series("blocking", "_sum"), **labels)
                assert route_counters.blocking_sum == pytest.approx(per_route, rel=1e-9)
        assert counters.routes["asgi", "/error"].statuses == {"5xx": 2}
        assert counters.routes["asgi", "/fast"].statuses == {"2xx": 12}
        [asgi] = counters.interfaces.values()
        assert (
            asgi.concurrency_count
            == value(text, series("concurrency", "_count"))
            == sum(ASGI_REQUESTS.values())
        )
        assert asgi.after_response_count == value(text, series("after_response", "_count"))
        assert counters.lag_count == value(text, series("loop_lag", "_count")) > 0
        assert counters.lag_buckets[-1] == counters.lag_count and counters.lag_bounds == b.LAG
        # The Blocking tab's rows: the page's loop blocks by route (no stacks on a page).
        blocks = counters.sites[BLOCKING_ROUTE, ""]
        assert blocks == SiteCounters(
            count=value(text, series("loop_blocks"), route=BLOCKING_ROUTE),
            total=value(text, series("loop_blocked"), route=BLOCKING_ROUTE),
        )
        assert blocks.count == 2 and blocks.total >= 0.14
        size = sum(len(message) for message in WS_MESSAGES)
        assert counters.sessions == {(WS_ROUTE, "accepted"): SessionCounters(1, 2, 2, size, size)}
        [stats] = reading.interfaces
        assert (stats.interface, stats.server, stats.in_flight) == ("asgi", "uvicorn", 0)
        [row] = reading.workers  # one process, ASGI only: listed, no WSGI threads
        assert (row.wsgi, row.servers, row.in_flight, row.websockets) == (False, "asgi: uvicorn", 0, 0)
        counts[preset] = {
            "routes": {
                key: (c.requests, dict(c.statuses), c.buckets[-1]) for key, c in counters.routes.items()
            },
            "blocks": {key: site.count for key, site in counters.sites.items()},
            "sessions": counters.sessions,
        }
    # The same traffic reads the same whatever the preset.
    assert counts["lean"] == counts["full"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_gunicorn_multiprocess_page_sums_its_workers(tmp_path: Path) -> None:
    with flask_server(tmp_path, workers=2) as server:
        wsgi_traffic(server.base_url)
        text = settled_page(server.base_url, WSGI_REQUESTS)
        source = _source(server.base_url)
        reading = source.reading_from(text, at=5.0)
        over_http = await source.read()
        await source.close()
    assert over_http.error is None, over_http.error
    [counters] = reading.counters
    assert counters.started is None  # multiprocess mode has no process collector
    assert {route: c.requests for (_, route), c in counters.routes.items()} == WSGI_REQUESTS
    assert counters.routes["wsgi", "/error"].statuses == {"5xx": 2}
    assert counters.interfaces["wsgi"].concurrency_count == sum(WSGI_REQUESTS.values())
    assert counters.interfaces["wsgi"].saturated == value(text, series("saturated"))
    assert not counters.sites and not counters.sessions and counters.lag_count == 0
    # Gauges: every worker process, by pid.
    pids = {int(pid) for pid in label_values(text, series("workers_capacity"), "pid")}
    # (a worker has its gauges from its first request on: one keep-alive client may meet one)
    assert {row.pid for row in reading.workers} == pids and pids
    assert all(row.total == 1 and row.busy == 0 for row in reading.workers)
    [stats] = reading.interfaces
    assert (stats.interface, stats.processes, stats.capacity, stats.busy) == ("wsgi", len(pids), len(pids), 0)


# -- recorded pages --------------------------------------------------------------------------


def _recorded(count: int, errors: int = 0, started: float = 1000.0) -> str:
    labels = 'interface="wsgi",method="GET",route="/slow"'
    return (
        f"# TYPE {series('duration')} histogram\n"
        f'{BUCKET}{{{labels},status="200",le="0.01"}} 0\n'
        f'{BUCKET}{{{labels},status="200",le="0.1"}} {count}\n'
        f'{BUCKET}{{{labels},status="200",le="+Inf"}} {count}\n'
        f'{SUM}{{{labels},status="200"}} {count * 0.02}\n'
        f'{COUNT}{{{labels},status="200"}} {count}\n'
        f'{BUCKET}{{{labels},status="503",le="0.01"}} {errors}\n'
        f'{BUCKET}{{{labels},status="503",le="0.1"}} {errors}\n'
        f'{BUCKET}{{{labels},status="503",le="+Inf"}} {errors}\n'
        f'{SUM}{{{labels},status="503"}} 0\n'
        f'{COUNT}{{{labels},status="503"}} {errors}\n'
        f"# TYPE {PROCESS_START} gauge\n{PROCESS_START} {started}\n"
        f'# TYPE {series("workers_busy")} gauge\n{series("workers_busy")}{{pid="11"}} 1\n'
        f'# TYPE {series("workers_capacity")} gauge\n{series("workers_capacity")}{{pid="11"}} 1\n'
    )


def test_a_recorded_page_gives_counters_by_route_and_status_class() -> None:
    reading = _source("http://127.0.0.1:8002").reading_from(_recorded(150, errors=3), at=12.0)
    [counters] = reading.counters
    [(key, slow)] = counters.routes.items()
    assert key == ("wsgi", "/slow")
    assert (slow.requests, dict(slow.statuses)) == (153, {"2xx": 150, "5xx": 3})
    assert counters.duration_bounds == (0.01, 0.1) and slow.buckets == (3, 153, 153)
    assert (counters.started, reading.at, counters.at) == (1000.0, 12.0, 12.0)
    assert reading.workers[0].is_saturated
    assert reading.interfaces[0].rate is None  # no figure over a window: the dashboard cuts those


def test_a_restart_is_read_as_it_is_the_window_sees_the_counters_go_down() -> None:
    source = _source("http://127.0.0.1:8002")
    before = source.reading_from(_recorded(150), at=10.0).counters[0]
    after = source.reading_from(_recorded(4, started=2000.0), at=12.0).counters[0]
    assert before.routes["wsgi", "/slow"].requests == 150
    assert after.routes["wsgi", "/slow"].requests == 4 and after.started == 2000.0


def test_a_multiprocess_page_lists_its_worker_processes_only() -> None:
    # As gunicorn -w 2 with gatewatch's hooks scrapes: busy and capacity per pid, the saturated
    # counter summed over the server without one (it was a third worker, pid 0, "0 / ?").
    busy, capacity, saturated = series("workers_busy"), series("workers_capacity"), series("saturated")
    text = (
        f'# TYPE {busy} gauge\n{busy}{{pid="11"}} 1\n{busy}{{pid="12"}} 0\n'
        f'# TYPE {capacity} gauge\n{capacity}{{pid="11"}} 4\n{capacity}{{pid="12"}} 4\n'
        f"# TYPE {saturated.removesuffix('_total')} counter\n{saturated} 3\n"
    )
    reading = _source("http://127.0.0.1:8002").reading_from(text, at=10.0)
    assert [(w.pid, w.busy, w.total, w.saturated) for w in reading.workers] == [(11, 1, 4, 3), (12, 0, 4, 3)]
    assert reading.counters[0].interfaces["wsgi"].saturated == 3


@pytest.mark.anyio
async def test_a_page_that_is_not_gatewatchs_is_said_so() -> None:
    pages = {
        "/metrics": "# TYPE python_gc_objects_collected counter\npython_gc_objects_collected_total 3\n",
        "/html/metrics": "<html><body>hello</body></html>",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=pages[request.url.path])

    for path, expected in (("/metrics", "not a gatewatch page"), ("/html/metrics", "not a /metrics page")):
        client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        source = MetricsSource("http://127.0.0.1:9100" + path, client=client)
        reading = await source.read()
        assert reading.error is not None and reading.error.startswith(expected), reading.error
        assert not reading.counters
        await source.close()
