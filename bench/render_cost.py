"""CPU per exported series of a ``/metrics`` render: gatewatch's renderer beside prometheus-client's
``generate_latest`` over the same families (text, OpenMetrics with exemplars, each with gzip).

``python -m bench.render_cost [routes ...]``; :func:`render_costs` is what a scrape benchmark calls.
"""

from __future__ import annotations

import gzip
import sys
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from gatewatch.export.prometheus._scrape import Families, Scrape, render_all
from gatewatch.export.prometheus.collector import PrometheusAggregator, registry_aggregator

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def recorded(routes: int) -> tuple[CollectorRegistry, PrometheusAggregator]:
    """A registry whose aggregator saw a request on each of ``routes`` routes (one status, every
    optional number measured), each route's duration series with an exemplar."""
    registry = CollectorRegistry()
    aggregator = registry_aggregator(registry, max_routes=routes + 10)
    monitor = aggregator.monitor
    monitor.note_server("asgi", "uvicorn")
    for index in range(routes):
        record = monitor.start("asgi", "GET", f"/r{index}/1")
        record.route, record.status, record.cpu = f"/r{index}/{{id}}", 200, 0.001
        record.first_byte = record.start + 0.002
        record.request_bytes, record.response_bytes = 10, 20
        record.response_ended()
        monitor.leave_in_flight(record)
        monitor.finish(record, time.perf_counter() + 0.001)
        aggregator.note_exemplar(record, f"{index:032x}", f"{index:016x}")
    return registry, aggregator


def _cpu(render: Callable[[], bytes], repeat: int) -> tuple[float, bytes]:
    body = render()
    started = time.process_time()
    for _ in range(repeat):
        render()
    return (time.process_time() - started) / repeat, body


def render_costs(routes: int, repeat: int = 5) -> list[dict[str, Any]]:
    """Per format (text, openmetrics) and compression: series, bytes, CPU per render and per
    series for prometheus-client and gatewatch, and their ratio."""
    registry, _ = recorded(routes)
    families = Families()
    rows = []
    for name, accept, theirs in (
        ("text", "", generate_latest),
        ("openmetrics", OPENMETRICS, openmetrics_latest),
    ):
        for gzipped in (False, True):

            def reference(theirs: Callable[[Any], bytes] = theirs, gzipped: bool = gzipped) -> bytes:
                body = theirs(registry)
                return gzip.compress(body) if gzipped else body

            def ours(accept: str = accept, gzipped: bool = gzipped) -> bytes:
                scrape = Scrape(
                    registry, families, accept=accept, accept_encoding="gzip" if gzipped else "", query=""
                )
                return render_all(scrape)

            their_cpu, body = _cpu(reference, repeat)
            our_cpu, our_body = _cpu(ours, repeat)
            text = gzip.decompress(body) if gzipped else body
            series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
            rows.append(
                {
                    "routes": routes,
                    "format": name + (" gzip" if gzipped else ""),
                    "series": series,
                    "bytes": (len(body), len(our_body)),
                    "ms": (their_cpu * 1e3, our_cpu * 1e3),
                    "us_per_series": (their_cpu * 1e6 / series, our_cpu * 1e6 / series),
                    "ratio": our_cpu / their_cpu,
                }
            )
    return rows


def main(argv: list[str]) -> None:
    print(
        f"{'routes':>6} {'format':<16} {'series':>7} {'client ms':>9} {'ours ms':>8} "
        f"{'client us/s':>11} {'ours us/s':>9} {'ratio':>6} {'bytes client/ours':>18}"
    )
    for routes in [int(a) for a in argv] or [10, 100, 1000]:
        for row in render_costs(routes):
            print(
                f"{row['routes']:>6} {row['format']:<16} {row['series']:>7} "
                f"{row['ms'][0]:>9.2f} {row['ms'][1]:>8.2f} "
                f"{row['us_per_series'][0]:>11.2f} {row['us_per_series'][1]:>9.2f} {row['ratio']:>6.3f} "
                f"{row['bytes'][0]:>9}/{row['bytes'][1]}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
