"""gatewatch's ``/metrics`` (its own renderer over the aggregator's tables, prometheus-client for the
rest of the registry) says exactly what prometheus-client's ``generate_latest`` says over the same
registry: in the text format and in OpenMetrics with exemplars, gzipped or not, filtered by
``name[]``, under ASGI and WSGI."""

from __future__ import annotations

import asyncio
import gzip
import math
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from gatewatch import metrics_asgi_app, metrics_wsgi_app
from gatewatch.export.prometheus._render import number
from gatewatch.export.prometheus.collector import PrometheusAggregator, registry_aggregator
from tests.support.asgi_driver import http_scope, serve
from tests.support.feed import feed
from tests.support.promtool import check_metrics

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
HOSTILE = 'a "quoted" \\ back\nslash'
Fed = tuple[CollectorRegistry, PrometheusAggregator]


@pytest.fixture
def fed() -> Fed:
    """One of everything, 30 routes (one with a hostile name), exemplars, and a user's counter."""
    registry = CollectorRegistry()
    aggregator = registry_aggregator(registry, max_routes=100)
    monitor = aggregator.monitor
    feed(monitor)
    for index in range(30):
        record = monitor.start("asgi", "GET", f"/r{index}")
        record.route, record.status = (f"/r{index}/{{id}}" if index else HOSTILE), 200 + index % 3
        record.response_ended()
        monitor.leave_in_flight(record)
        monitor.finish(record, time.perf_counter() + 0.001 * index)
        if index % 2:
            aggregator.note_exemplar(record, f"{index:032x}", f"{index:016x}")
    Counter("user_things", "The user's own.", ["kind"], registry=registry).labels("x").inc(2)
    return registry, aggregator


def samples(families: Any) -> list[tuple[Any, ...]]:
    found = (sample for family in families for sample in family.samples)
    return sorted((s.name, tuple(sorted(s.labels.items())), s.value, repr(s.exemplar)) for s in found)


def asgi_get(registry: CollectorRegistry, headers: list[tuple[bytes, bytes]], query: bytes = b"") -> Any:
    scope = http_scope("/metrics", headers=headers, query_string=query)
    return asyncio.run(serve(metrics_asgi_app(registry), scope))


def wsgi_get(registry: CollectorRegistry, environ: dict[str, str]) -> tuple[list[tuple[str, str]], bytes]:
    got: list[Any] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", **environ}
    body = b"".join(metrics_wsgi_app(registry)(environ, _start_response(got)))
    return got[1], body


def _start_response(got: list[Any]) -> Any:
    def start_response(*started: Any) -> Any:
        got.extend(started)
        return got.append

    return start_response


def test_text_is_generate_latest(fed: Fed) -> None:
    registry, _ = fed
    exchange = asgi_get(registry, [])
    text = exchange.body.decode()
    check_metrics(text)
    expected = generate_latest(registry).decode()
    assert samples(parse_text(text)) == samples(parse_text(expected))
    # Line for line as prometheus-client writes them (labels sorted, le among them, numbers
    # spelled alike): a grep of a scrape finds the same text; only the families' order differs.
    assert sorted(text.splitlines()) == sorted(expected.splitlines())
    headers = dict(exchange.sent[0]["headers"])
    assert headers[b"Content-Type"] == choose_encoder("")[1].encode()
    # The user's family and each of gatewatch's once.
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types)) and "user_things_total" in types


def test_openmetrics_with_exemplars_is_generate_latest(fed: Fed) -> None:
    registry, _ = fed
    exchange = asgi_get(registry, [(b"accept", OPENMETRICS.encode()), (b"accept-encoding", b"gzip")])
    headers = dict(exchange.sent[0]["headers"])
    assert headers[b"Content-Encoding"] == b"gzip"
    assert headers[b"Content-Type"] == choose_encoder(OPENMETRICS)[1].encode()
    text = gzip.decompress(exchange.body).decode()
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    ours = samples(parse_openmetrics(text))  # type: ignore[no-untyped-call]
    expected = openmetrics_latest(registry).decode()  # type: ignore[no-untyped-call]
    assert ours == samples(parse_openmetrics(expected))  # type: ignore[no-untyped-call]
    assert sorted(text.splitlines()) == sorted(expected.splitlines())
    assert sum(1 for sample in ours if sample[3] != "None") == 15


def test_name_filter_is_generate_latest(fed: Fed) -> None:
    registry, _ = fed
    names = [
        "gatewatch_http_request_duration_seconds_count",
        "user_things_total",
        "gatewatch_http_requests_in_flight",
    ]
    query = "&".join(f"name[]={name}" for name in names)
    _, body = wsgi_get(registry, {"QUERY_STRING": query})
    expected = samples(parse_text(generate_latest(registry.restricted_registry(names)).decode()))
    assert samples(parse_text(body.decode())) == expected
    assert {sample[0] for sample in expected} == set(names)


def test_wsgi_gzip_round_trip(fed: Fed) -> None:
    registry, _ = fed
    headers, body = wsgi_get(registry, {"HTTP_ACCEPT_ENCODING": "gzip, deflate"})
    assert ("Content-Encoding", "gzip") in headers
    plain = gzip.decompress(body).decode()
    assert samples(parse_text(plain)) == samples(parse_text(generate_latest(registry).decode()))


def test_collect_still_serves_generate_latest(fed: Fed) -> None:
    # Nothing else changed the aggregator: a second render is the same, and generate_latest (no
    # gatewatch scrape around it) still has gatewatch's families.
    registry, _ = fed
    first, second = asgi_get(registry, []).body, asgi_get(registry, []).body
    assert samples(parse_text(first.decode())) == samples(parse_text(second.decode()))
    assert b"gatewatch_http_request_duration_seconds_bucket" in generate_latest(registry)


def test_numbers() -> None:
    assert [number(v) for v in (math.inf, -math.inf, math.nan)] == ["+Inf", "-Inf", "NaN"]
    values = (3, 0.5, 1e-05, 2.5e16, 10**20)
    assert [number(v) for v in values] == ["3.0", "0.5", "1e-05", "2.5e+16", "1e+20"]
