"""A request's histograms added up by gatewatch and handed to the SDK's readers at collection
(gatewatch.export.otel._histograms) give what the SDK's per-request Histogram.record gives."""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics.export import AggregationTemporality, HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from gatewatch._batches import PENDING_RECORDS
from gatewatch._histogram import DEFAULT_CHOICE
from gatewatch.export.otel.sink import OtelSink
from gatewatch.monitor import Monitor
from tests.support.asgi_driver import http_scope
from tests.support.feed import feed
from tests.support.otel import Otel
from tests.support.otel_apps import DURATION, SEMCONV_BOUNDARIES, only, serve_all, starlette_app

# More requests than a batch holds, so that some are added up before the collection and some by it.
REQUESTS = PENDING_RECORDS * 2 + 7


def histograms(reader: InMemoryMetricReader) -> dict[str, dict[tuple[Any, ...], HistogramDataPoint]]:
    """Every histogram point a collection gives: metric name -> attributes -> point."""
    found: dict[str, dict[tuple[Any, ...], HistogramDataPoint]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    if isinstance(point, HistogramDataPoint):
                        key = tuple(sorted((point.attributes or {}).items()))
                        assert key not in found.setdefault(metric.name, {}), metric.name
                        found[metric.name][key] = point
    return found


def metric_names(reader: InMemoryMetricReader) -> set[str]:
    data = reader.get_metrics_data()
    assert data is not None
    return {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}


def sink(monitor: Monitor, provider: MeterProvider) -> OtelSink:
    added = OtelSink(monitor, meter_provider=provider, histograms=DEFAULT_CHOICE)
    monitor.add_sink(added)
    return added


def traffic(monitor: Monitor) -> None:
    """Requests of several routes, methods, statuses and sizes, with and without CPU time."""
    for n in range(REQUESTS):
        record = monitor.start("asgi" if n % 3 else "wsgi", ("GET", "POST")[n % 2], f"/r/{n % 4}")
        record.route = f"/r/{n % 4}"
        record.status = (200, 404, 503)[n % 3]
        record.first_byte = record.start + n / 10_000
        record.request_bytes, record.response_bytes = n * 7, n * 13 % 5000
        record.blocking = n / 100_000
        record.cpu = n / 50_000 if n % 5 == 0 else None
        record.response_ended()
        monitor.leave_in_flight(record)
        monitor.finish(record, record.start + n / 1000)


def test_the_same_points_as_the_sdk_records_one_at_a_time() -> None:
    batched_reader, recorded_reader = InMemoryMetricReader(), InMemoryMetricReader()
    batched_provider = MeterProvider(metric_readers=[batched_reader])
    # A view (one that matches nothing) keeps the SDK's own per-request path.
    recorded_provider = MeterProvider(
        metric_readers=[recorded_reader], views=[View(instrument_name="no.such")]
    )
    monitor = Monitor()
    batched, recorded = sink(monitor, batched_provider), sink(monitor, recorded_provider)
    assert batched.metrics.own is not None and batched.metrics.per_request is None
    assert recorded.metrics.own is None and "views" in (recorded.metrics.per_request or "")
    feed(monitor)
    traffic(monitor)
    got, expected = histograms(batched_reader), histograms(recorded_reader)
    assert set(got) == set(expected)
    assert DURATION in got and "gatewatch.http.server.request.blocking.time" in got
    for name, points in expected.items():
        assert set(got[name]) == set(points), name
        for attributes, point in points.items():
            mine = got[name][attributes]
            assert (mine.count, mine.bucket_counts, mine.min, mine.max) == (
                point.count,
                point.bucket_counts,
                point.min,
                point.max,
            ), (name, attributes)
            assert mine.sum == pytest.approx(point.sum, rel=1e-12), (name, attributes)
            assert tuple(mine.explicit_bounds) == tuple(point.explicit_bounds)
    assert sum(p.count for p in got[DURATION].values()) == REQUESTS + 4  # feed: 4 requests
    assert {tuple(p.explicit_bounds) for p in got[DURATION].values()} == {SEMCONV_BOUNDARIES}
    # Counters the batches feed (per-route totals) and the observable ones are all there too.
    assert metric_names(batched_reader) == metric_names(recorded_reader)


def test_cumulative_points_keep_growing_and_delta_ones_restart() -> None:
    cumulative = InMemoryMetricReader()
    delta = InMemoryMetricReader(preferred_temporality={SdkHistogram: AggregationTemporality.DELTA})
    monitor = Monitor()
    sink(monitor, MeterProvider(metric_readers=[cumulative, delta]))
    traffic(monitor)
    first_cumulative, first_delta = histograms(cumulative)[DURATION], histograms(delta)[DURATION]
    assert sum(p.count for p in first_cumulative.values()) == REQUESTS
    assert sum(p.count for p in first_delta.values()) == REQUESTS
    record = monitor.start("asgi", "GET", "/r/1")
    record.route, record.status = "/r/1", 200
    monitor.finish(record, record.start + 0.02)
    second_cumulative, second_delta = histograms(cumulative)[DURATION], histograms(delta)[DURATION]
    assert sum(p.count for p in second_cumulative.values()) == REQUESTS + 1
    (point,) = second_delta.values()
    assert point.count == 1 and point.min == point.max == point.sum
    # A delta point starts where the reader's last collection ended; a cumulative one never moves.
    assert point.start_time_unix_nano == max(p.time_unix_nano for p in first_delta.values())
    for key, earlier in first_cumulative.items():
        assert second_cumulative[key].start_time_unix_nano == earlier.start_time_unix_nano
    assert histograms(delta).get(DURATION) is None


def test_a_reader_added_later_collects_them_too() -> None:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    monitor = Monitor()
    sink(monitor, provider)
    later = InMemoryMetricReader()
    provider.add_metric_reader(later)
    traffic(monitor)
    assert sum(p.count for p in histograms(later)[DURATION].values()) == REQUESTS


def test_the_duration_carries_sampled_spans_as_exemplars(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    serve_all(wrapped, *[http_scope(f"/items/{n}") for n in range(3)])
    spans = {span.context.span_id: span for span in otel.server_spans()}
    ((_, point),) = otel.points(DURATION)
    assert point.count == 3
    assert point.exemplars, "the requests ran in sampled spans"
    for exemplar in point.exemplars:
        assert exemplar.filtered_attributes == {}
        span = spans[exemplar.span_id]
        assert exemplar.trace_id == span.context.trace_id
        assert span.start_time is not None and span.end_time is not None
        assert exemplar.value == pytest.approx((span.end_time - span.start_time) / 1e9, abs=1e-6)
        assert span.start_time <= exemplar.time_unix_nano <= span.end_time + 1000
    # Only the last request of each bucket, as the SDK's aligned-bucket reservoir keeps them.
    assert len(point.exemplars) == len({SEMCONV_BOUNDARIES.index(b) for b in _buckets(point)})
    # None but on the duration, and none again until new requests (reset at each collection).
    ((_, size),) = otel.points("http.server.response.body.size")
    assert not size.exemplars
    ((_, again),) = otel.points(DURATION)
    assert again.count == 3 and not again.exemplars


def _buckets(point: HistogramDataPoint) -> list[float]:
    bounds = list(point.explicit_bounds)
    return [bounds[i] for i, count in enumerate(point.bucket_counts[:-1]) if count]


def test_no_exemplars_under_the_always_off_filter(registry: CollectorRegistry, otel: Otel) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], exemplar_filter=AlwaysOffExemplarFilter())
    options = {**otel.options, "meter_provider": provider}
    serve_all(GatewatchASGI(starlette_app(otel), registry=registry, **options), http_scope("/items/1"))
    only(otel.server_spans())
    point = only(list(histograms(reader)[DURATION].values()))
    assert point.count == 1 and not point.exemplars
    provider.shutdown()


def test_a_provider_of_another_kind_records_per_request(registry: CollectorRegistry, otel: Otel) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=[View(instrument_name="no.such")])
    options = {**otel.options, "meter_provider": provider}
    serve_all(GatewatchASGI(starlette_app(otel), registry=registry, **options), http_scope("/items/1"))
    span = only(otel.server_spans())
    point = only(list(histograms(reader)[DURATION].values()))
    # The SDK's own exemplar: gatewatch's have the same fields.
    (exemplar,) = point.exemplars
    assert (exemplar.trace_id, exemplar.span_id) == (span.context.trace_id, span.context.span_id)
    assert exemplar.filtered_attributes == {}
    assert exemplar.value == point.sum
    provider.shutdown()


def test_waiting_requests_are_added_up_at_collection_not_per_request() -> None:
    reader = InMemoryMetricReader()
    monitor = Monitor()
    added = sink(monitor, MeterProvider(metric_readers=[reader]))
    record = monitor.start("asgi", "GET", "/r/1")
    record.route, record.status = "/r/1", 200
    monitor.finish(record, time.perf_counter())
    own = added.metrics.own
    assert own is not None and len(own._pending) == 1
    assert sum(p.count for p in histograms(reader)[DURATION].values()) == 1
    assert not own._pending


def test_a_global_provider_set_later_is_read_from_then_on() -> None:
    # What meter_provider=None finds before the application sets the global provider
    # (gunicorn --preload, then post_fork): a proxy, until then recording nothing.
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    proxy = _ProxyMeterProvider()
    monitor = Monitor()
    added = sink(monitor, proxy)  # type: ignore[arg-type]
    traffic(monitor)
    assert added.metrics.own is None and added.metrics.per_request is None
    reader = InMemoryMetricReader()
    proxy.on_set_meter_provider(MeterProvider(metric_readers=[reader]))
    traffic(monitor)
    assert added.metrics.own is not None
    assert sum(p.count for p in histograms(reader)[DURATION].values()) == REQUESTS


def test_a_failure_in_gatewatch_s_part_leaves_the_sdk_s_collection_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = InMemoryMetricReader()
    monitor = Monitor()
    added = sink(monitor, MeterProvider(metric_readers=[reader]))
    traffic(monitor)
    own = added.metrics.own
    assert own is not None

    def broken(reader: object) -> list[Any]:
        raise RuntimeError("broken")

    monkeypatch.setattr(own, "produce", broken)
    names = metric_names(reader)
    assert DURATION not in names and "http.server.active_requests" in names
    assert monitor.internal_errors == 1
