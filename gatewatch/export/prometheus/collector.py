"""Prometheus export for a single process: aggregate plain numbers, build metrics when scraped.

prometheus-client's own metric objects take a lock and scan buckets for every
``observe``; gatewatch records a dozen numbers a request, so it adds them into
per-route state under one lock and turns that state into metric families only
when ``/metrics`` is read (a custom collector). Under gunicorn with several
workers, :mod:`gatewatch.export.prometheus.multiprocess` takes over instead.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Mapping
from time import time
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Exemplar

from gatewatch import catalogue as c
from gatewatch._batches import PENDING_RECORDS, take_all
from gatewatch._histogram import DEFAULT_CHOICE, Histogram, HistogramChoice, histogram_choice
from gatewatch.export.prometheus.websocket import SessionStats, collect_sessions
from gatewatch.monitor import Monitor, Sink
from gatewatch.options import Options
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.version import VERSION

__all__ = [
    "DEFAULT_CHOICE",
    "HistogramChoice",
    "PrometheusAggregator",
    "histogram_choice",
    "registry_aggregator",
]


def _new_histogram(bounds: tuple[float, ...] | None) -> Histogram | None:
    """A histogram with ``bounds``, or None for a family the process does not export."""
    return None if bounds is None else Histogram(bounds)


class _RouteStats:
    """Everything recorded for one (interface, method, route); None: a family not exported."""

    __slots__ = (
        "after_response",
        "blocking",
        "concurrency",
        "cpu",
        "durations",
        "exemplars",
        "offload",
        "offload_queue",
        "offloaded",
        "request_bytes",
        "response_bytes",
        "thread_hops",
        "ttfb",
    )

    def __init__(self, bounds: Mapping[str, tuple[float, ...] | None]) -> None:
        self.blocking = _new_histogram(bounds["blocking"])
        self.cpu = _new_histogram(bounds["cpu"])
        self.ttfb = _new_histogram(bounds["ttfb"])
        self.offload = _new_histogram(bounds["offload"])
        self.offload_queue = _new_histogram(bounds["offload_queue"])
        self.after_response = _new_histogram(bounds["after_response"])
        # The interface's concurrency histogram (shared by its routes), when exported.
        self.concurrency: Histogram | None = None
        # Requests whose hand-offs were tracked: the offload families and the hop counter
        # are exported only for routes that had one, whichever histograms are on.
        self.offloaded = 0
        self.thread_hops = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.durations: dict[str, Histogram] = {}
        # status -> the last exemplar (a sampled span's trace) of each duration bucket.
        self.exemplars: dict[str, list[Exemplar | None]] | None = None


class PrometheusAggregator(Collector, Sink):
    """A :class:`~gatewatch.monitor.Sink` and a prometheus-client collector in one."""

    def __init__(self, monitor: Monitor, histograms: HistogramChoice = DEFAULT_CHOICE) -> None:
        self.monitor = monitor
        self.histograms = histograms
        # Histogram key -> its bounds, None when the family is not exported.
        self._bounds = {key: histograms.bounds(key) for key in c.HISTOGRAM_KEYS}
        self._duration_bounds = self._bounds["duration"]
        self._concurrency_bounds = self._bounds["concurrency"]
        self._queue_bounds = self._bounds["queue"]
        # Every family this aggregator exports, in catalogue order.
        self._specs = tuple(
            spec for spec in c.METRICS if spec.kind != "histogram" or spec.key in histograms.enabled
        )
        self._lock = threading.Lock()
        # Finished records not yet added up (see request_finished).
        self._pending: deque[RequestRecord] = deque()
        self._routes: dict[tuple[str, str, str], _RouteStats] = {}
        self._concurrency: dict[str, Histogram] = {}
        self._exceptions: dict[tuple[str, str, str], int] = {}
        self._disconnects: dict[tuple[str, str], int] = {}
        self._sessions: dict[str, SessionStats] = {}
        # (interface, route label) -> (view, view_kind); bounded by the route labels.
        self._views: dict[tuple[str, str], tuple[str, str]] = {}
        self._lag = _new_histogram(self._bounds["loop_lag"])
        self._queue: dict[str, Histogram] = {}
        self._saturated = 0
        # route label -> [blocks, seconds blocked]; bounded by the route labels too.
        self._blocks: dict[str, list[float]] = {}

    # -- Sink -------------------------------------------------------------------------

    def loop_lag(self, seconds: float) -> None:
        if self._lag is not None:
            with self._lock:
                self._lag.observe(seconds)

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        with self._lock:
            totals = self._blocks.get(route)
            if totals is None:
                totals = self._blocks[route] = [0, 0.0]
            totals[0] += 1
            totals[1] += duration

    def session_finished(self, record: WebSocketRecord) -> None:
        with self._lock:
            stats = self._sessions.get(record.route_label)
            if stats is None:
                stats = self._sessions[record.route_label] = SessionStats(
                    self._bounds["websocket_duration"], self._bounds["websocket_blocking"]
                )
            stats.add(record)

    def request_finished(self, record: RequestRecord) -> None:
        # One append (atomic, no lock) on every request's path: records are added up in
        # batches, every PENDING_RECORDS of them or when a scrape (or an exemplar) reads the
        # totals, whichever comes first.
        pending = self._pending
        pending.append(record)
        if len(pending) >= PENDING_RECORDS:
            self._absorb()

    def _absorb(self) -> None:
        """Add the pending records into the per-route totals."""
        with self._lock:
            for record in take_all(self._pending):
                try:
                    self._add(record)
                except Exception as exc:  # noqa: BLE001 - one bad record must not stop a scrape
                    self.monitor.report_internal_error("prometheus.add", exc)

    def _add(self, record: RequestRecord) -> None:
        # Under the lock, for every request: each histogram is observed inline (a bisect and
        # two additions, as Histogram.observe does) rather than through a method call.
        interface = record.interface
        route = record.route_label
        key = (interface, record.method, route)
        start = record.start
        stats = self._routes.get(key)
        if stats is None:
            stats = self._routes[key] = self._new_route(interface)
        # A family not exported costs one check here, and nothing at scrape time.
        if self._duration_bounds is not None:
            histogram = stats.durations.get(record.status_label)
            if histogram is None:
                histogram = stats.durations[record.status_label] = Histogram(self._duration_bounds)
            value = (record.end or start) - start
            histogram.counts[bisect_left(histogram.bounds, value)] += 1
            histogram.sum += value
        histogram = stats.blocking
        if histogram is not None:
            value = record.blocking
            histogram.counts[bisect_left(histogram.bounds, value)] += 1
            histogram.sum += value
        histogram = stats.ttfb
        if record.first_byte is not None and histogram is not None:
            value = record.first_byte - start
            histogram.counts[bisect_left(histogram.bounds, value)] += 1
            histogram.sum += value
        histogram = stats.concurrency
        if histogram is not None:
            histogram.counts[bisect_left(histogram.bounds, record.concurrency)] += 1
            histogram.sum += record.concurrency
        if record.after_response is not None:
            histogram = stats.after_response
            if histogram is not None:
                value = record.after_response
                histogram.counts[bisect_left(histogram.bounds, value)] += 1
                histogram.sum += value
            if record.after_exception_label:
                ekey = (interface, route, record.after_exception_label)
                self._exceptions[ekey] = self._exceptions.get(ekey, 0) + 1
        if record.cpu is not None and stats.cpu is not None:
            stats.cpu.observe(record.cpu)
        stats.request_bytes += record.request_bytes
        stats.response_bytes += record.response_bytes
        if record.offload is not None:
            stats.offloaded += 1
            if stats.offload is not None:
                stats.offload.observe(record.offload)
            if stats.offload_queue is not None:
                stats.offload_queue.observe(record.offload_queue)
            stats.thread_hops += record.thread_hops
        if record.view is not None:
            self._views[(interface, route)] = (record.view, record.view_kind)
        if record.queue is not None and self._queue_bounds is not None:
            queue = self._queue.get(interface)
            if queue is None:
                queue = self._queue[interface] = Histogram(self._queue_bounds)
            queue.observe(record.queue)
        if interface == "wsgi":
            threads = self.monitor.worker_threads
            if threads is not None and record.concurrency + 1 >= threads:
                self._saturated += 1
        if record.exception is not None:
            ekey = (interface, route, record.exception_label)
            self._exceptions[ekey] = self._exceptions.get(ekey, 0) + 1
        if record.disconnected:
            dkey = (interface, route)
            self._disconnects[dkey] = self._disconnects.get(dkey, 0) + 1

    def _new_route(self, interface: str) -> _RouteStats:
        # Under the lock. The interface's concurrency histogram is shared by its routes' stats.
        stats = _RouteStats(self._bounds)
        if self._concurrency_bounds is not None:
            concurrency = self._concurrency.get(interface)
            if concurrency is None:
                concurrency = self._concurrency[interface] = Histogram(self._concurrency_bounds)
            stats.concurrency = concurrency
        return stats

    def note_exemplar(self, record: RequestRecord, trace_id: str, span_id: str) -> None:
        """The request just recorded ran in a sampled span: its duration bucket carries that
        trace as its exemplar (the latest one wins), shown in the OpenMetrics exposition."""
        bounds = self._duration_bounds
        if bounds is None:
            return
        value = record.duration
        self._absorb()
        with self._lock:
            stats = self._routes.get((record.interface, record.method, record.route_label))
            if stats is None or record.status_label not in stats.durations:
                return
            if stats.exemplars is None:
                stats.exemplars = {}
            slots = stats.exemplars.get(record.status_label)
            if slots is None:
                slots = stats.exemplars[record.status_label] = [None] * (len(bounds) + 1)
            labels = {"trace_id": trace_id, "span_id": span_id}
            slots[bisect_left(bounds, value)] = Exemplar(labels, value, time())

    # -- Collector --------------------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        # Names only, so a registry can refuse a clash without running a scrape.
        yield from _families(self._specs).values()

    def collect(self) -> Iterator[Metric]:
        f = _families(self._specs)
        self._absorb()
        with self._lock:
            for key, stats in self._routes.items():
                labels = list(key)
                for status, hist in stats.durations.items():
                    exemplars = stats.exemplars.get(status) if stats.exemplars is not None else None
                    if exemplars is None:
                        _add_histogram(f["duration"], [*labels, status], hist)
                    else:
                        cumulative = hist.cumulative_buckets()
                        buckets: list[Any] = [
                            (bound, count) if exemplar is None else (bound, count, exemplar)
                            for (bound, count), exemplar in zip(cumulative, exemplars, strict=True)
                        ]
                        f["duration"].add_metric([*labels, status], buckets, hist.sum)
                _add_histogram(f.get("blocking"), labels, stats.blocking)
                _add_histogram(f.get("cpu"), labels, stats.cpu)
                _add_histogram(f.get("ttfb"), labels, stats.ttfb)
                if stats.after_response is not None and stats.after_response.count:
                    _add_histogram(f["after_response"], labels, stats.after_response)
                f["request_bytes"].add_metric(labels, stats.request_bytes)
                f["response_bytes"].add_metric(labels, stats.response_bytes)
                if stats.offloaded:
                    _add_histogram(f.get("offload"), labels, stats.offload)
                    _add_histogram(f.get("offload_queue"), labels, stats.offload_queue)
                    f["thread_hops"].add_metric(labels, stats.thread_hops)
            for (interface, route), (view, kind) in self._views.items():
                f["route_view"].add_metric([interface, route, view, kind], {})
            if self._lag is not None and self._lag.count:
                _add_histogram(f["loop_lag"], [], self._lag)
            for interface, hist in self._queue.items():
                _add_histogram(f["queue"], [interface], hist)
            for route, (count, seconds) in self._blocks.items():
                f["loop_blocks"].add_metric([route], count)
                f["loop_blocked"].add_metric([route], seconds)
            for interface, hist in self._concurrency.items():
                _add_histogram(f["concurrency"], [interface], hist)
            for ekey, count in self._exceptions.items():
                f["exceptions"].add_metric(list(ekey), count)
            for dkey, count in self._disconnects.items():
                f["disconnects"].add_metric(list(dkey), count)
            saturated = self._saturated
            collect_sessions(f, self._sessions, self.monitor.sessions.active())
        monitor = self.monitor
        for (interface, method), count in sorted(monitor.in_flight().items()):
            f["in_flight"].add_metric([interface, method], count)
        f["internal_errors"].add_metric([], monitor.internal_errors)
        for interface, server in sorted(monitor.servers.items()):
            f["info"].add_metric([VERSION, interface, server], {})
        # Worker threads: once this process has served WSGI or knows its capacity (told by
        # gunicorn's hook before any request), and the total (with the saturation it defines)
        # only when the capacity is known.
        busy = monitor.in_flight_of("wsgi")
        if busy is not None or monitor.worker_threads is not None:
            f["workers_busy"].add_metric([], busy or 0)
            if monitor.worker_threads is not None:
                f["workers_capacity"].add_metric([], monitor.worker_threads)
                f["saturated"].add_metric([], saturated)
        yield from (family for key, family in f.items() if family.samples or key not in _ONLY_WHEN_SET)


_FAMILY_TYPES: dict[str, Any] = {
    "counter": CounterMetricFamily,
    "gauge": GaugeMetricFamily,
    "histogram": HistogramMetricFamily,
    "info": InfoMetricFamily,
}
# Families left out of a scrape while they have no sample: a 0 there would claim the
# process served WSGI, or that its capacity is known.
_ONLY_WHEN_SET = frozenset({"workers_busy", "workers_capacity", "saturated"})


def _families(specs: tuple[c.MetricSpec, ...]) -> dict[str, Any]:
    """Fresh, empty metric families of ``specs``, by catalogue key."""
    return {spec.key: _FAMILY_TYPES[spec.kind](spec.family, spec.help, labels=spec.labels) for spec in specs}


def _add_histogram(family: HistogramMetricFamily | None, labels: list[str], hist: Histogram | None) -> None:
    # Both are None together: the family is not exported.
    if family is not None and hist is not None:
        family.add_metric(labels, hist.cumulative_buckets(), hist.sum)


def registry_aggregator(
    registry: CollectorRegistry,
    *,
    max_routes: int = Options.max_routes,
    histograms: HistogramChoice = DEFAULT_CHOICE,
) -> PrometheusAggregator:
    """A new monitor exporting into ``registry`` through its aggregator, registered there; a
    process keeps one per registry (:meth:`gatewatch.runtime.Runtime.registry_monitor`).

    ``histograms`` (:func:`~gatewatch._histogram.histogram_choice`) picks the histogram families
    and their buckets.
    """
    check_choice(histograms)
    monitor = Monitor(max_routes=max_routes)
    aggregator = PrometheusAggregator(monitor, histograms)
    monitor.add_sink(aggregator)
    registry.register(aggregator)
    return aggregator


def check_choice(histograms: object) -> None:
    if not isinstance(histograms, HistogramChoice):
        raise TypeError(
            "histograms must be a HistogramChoice (gatewatch._histogram.histogram_choice), "
            f"got {histograms!r}"
        )


def check_same(aggregator: PrometheusAggregator, max_routes: int, histograms: HistogramChoice) -> None:
    """ValueError when a middleware asks ``aggregator``'s registry for other settings than it has."""
    monitor = aggregator.monitor
    if monitor.max_routes != max_routes:
        raise ValueError(
            f"max_routes={max_routes} conflicts with the gatewatch monitor already "
            f"exporting to this registry (max_routes={monitor.max_routes}); pass the "
            "same value, a separate registry=, or a shared monitor="
        )
    if aggregator.histograms != histograms:
        raise ValueError(
            f"{histograms.describe()} conflicts with the gatewatch monitor already exporting "
            f"to this registry ({aggregator.histograms.describe()}); pass the same choice, a "
            "separate registry=, or a shared monitor="
        )
