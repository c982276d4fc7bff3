"""A ``/metrics`` page read as the dashboard's source: rates and quantiles between two scrapes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client.samples import Sample

from gatewatch.export.prometheus.scrape_summary import histogram, histogram_quantile, parse, route_summaries
from gatewatch.queries import series
from gatewatch_dashboard.http_source import HTTPSource
from gatewatch_dashboard.model import InterfaceStats, Reading, RouteRow, WorkerRow, ratio

_DURATION = series("duration")
_BLOCKING = series("blocking")
_AFTER = series("after_response")
_CONCURRENCY = series("concurrency")
_QUEUE = series("queue")
_LAG = series("loop_lag")
_IN_FLIGHT = series("in_flight")
_BUSY = series("workers_busy")
_CAPACITY = series("workers_capacity")
_SATURATED = series("saturated")

Buckets = tuple[tuple[float, float], ...]


def _delta_buckets(now: Buckets, before: Buckets | None) -> Buckets:
    """Observations between two scrapes of one histogram (all of them on the first scrape, or
    after a restart reset the counts)."""
    if before is None:
        return now
    old = dict(before)
    delta = tuple((bound, count - old.get(bound, 0.0)) for bound, count in now)
    return now if any(count < 0 for _, count in delta) else delta


class MetricsSource(HTTPSource):
    """A ``/metrics`` page: the Overview (rates and quantiles between two scrapes, as
    ``rate()`` and ``histogram_quantile`` would give them), Routes and Workers."""

    kind = "metrics"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._previous: dict[str, tuple[float, Buckets, float]] = {}

    async def _fetch(self) -> Reading:
        response = await self._get(self.url)
        return self.reading_from(response.text, time.monotonic())

    def reading_from(self, text: str, now: float) -> Reading:
        samples = parse(text)
        interfaces = sorted(
            {
                s.labels["interface"]
                for s in samples
                if s.name.startswith(_DURATION) and "interface" in s.labels
            }
        )
        stats = []
        for interface in interfaces:
            duration = histogram(samples, _DURATION, interface=interface)
            errors = _server_errors(samples, interface=interface)
            blocking = histogram(samples, _BLOCKING, interface=interface)
            key = f"{interface}"
            before = self._previous.get(key)
            delta = _delta_buckets(duration.buckets, before[1] if before else None)
            count_delta = delta[-1][1] if delta else 0.0
            rate = None
            if before is not None and now > before[0] and duration.count >= before[2]:
                rate = (duration.count - before[2]) / (now - before[0])
            self._previous[key] = (now, duration.buckets, duration.count)
            after = histogram(samples, _AFTER, interface=interface)
            concurrency = histogram(samples, _CONCURRENCY, interface=interface)
            queue = histogram(samples, _QUEUE, interface=interface)
            lag = histogram(samples, _LAG) if interface == "asgi" else None
            in_flight = sum(
                s.value for s in samples if s.name == _IN_FLIGHT and s.labels.get("interface") == interface
            )
            wsgi = interface == "wsgi"
            stats.append(
                InterfaceStats(
                    interface=interface,
                    server="/metrics",
                    processes=0,
                    rate=rate,
                    p50=histogram_quantile(0.5, delta) if count_delta else None,
                    p95=histogram_quantile(0.95, delta) if count_delta else None,
                    p99=histogram_quantile(0.99, delta) if count_delta else None,
                    error_rate=ratio(errors, duration.count),
                    in_flight=int(in_flight),
                    concurrency=concurrency.mean,
                    blocking_share=ratio(blocking.sum, duration.sum),
                    lag_p99=lag.quantile(0.99) if lag is not None and lag.count else None,
                    after_response=after.mean,
                    queue=queue.mean,
                    busy=int(sum(s.value for s in samples if s.name == _BUSY)) if wsgi else None,
                    capacity=int(sum(s.value for s in samples if s.name == _CAPACITY)) or None
                    if wsgi
                    else None,
                )
            )
        routes = []
        for interface in interfaces:
            for route, summary in route_summaries(samples, interface).items():
                spread = histogram(samples, _DURATION, interface=interface, route=route)
                routes.append(
                    RouteRow(
                        source=self.name,
                        interface=interface,
                        route=route,
                        requests=int(summary.requests),
                        rate=None,
                        p50=spread.quantile(0.5),
                        p95=spread.quantile(0.95),
                        p99=spread.quantile(0.99),
                        blocking=summary.blocking_mean,
                        cpu=summary.cpu_mean,
                        offload=summary.offload_mean,
                        errors=int(_server_errors(samples, interface=interface, route=route)),
                    )
                )
        workers = _metrics_workers(self.name, samples)
        return Reading(
            source=self.name, kind=self.kind, interfaces=tuple(stats), routes=tuple(routes), workers=workers
        )


def _server_errors(samples: Iterable[Sample], **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == _DURATION + "_count"
        and all(s.labels.get(k) == v for k, v in labels.items())
        and s.labels.get("status", "").startswith("5")
    )


def _metrics_workers(source: str, samples: Iterable[Sample]) -> tuple[WorkerRow, ...]:
    """WSGI workers per process (multiprocess mode labels them with ``pid``)."""
    by_pid: dict[int, dict[str, float]] = {}
    for sample in samples:
        if sample.name in (_BUSY, _CAPACITY, _SATURATED):
            pid = int(sample.labels.get("pid", "0") or 0)
            by_pid.setdefault(pid, {})[sample.name] = sample.value
    rows = []
    for pid, values in sorted(by_pid.items()):
        if _BUSY not in values and _CAPACITY not in values:
            # The saturated counter alone: multiprocess mode sums it over the server, no pid.
            continue
        capacity = values.get(_CAPACITY)
        rows.append(
            WorkerRow(
                source=source,
                pid=pid,
                servers="wsgi",
                busy=int(values.get(_BUSY, 0)),
                total=int(capacity) if capacity else None,
                in_flight=int(values.get(_BUSY, 0)),
                websockets=0,
                queue=None,
                saturated=int(values.get(_SATURATED, 0)),
            )
        )
    return tuple(rows)
