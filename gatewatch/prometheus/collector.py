"""Prometheus export for a single process: aggregate plain numbers, build metrics when scraped.

prometheus-client's own metric objects take a lock and scan buckets for every
``observe``; gatewatch records a dozen numbers a request, so it adds them into
per-route state under one lock and turns that state into metric families only
when ``/metrics`` is read (a custom collector). Under gunicorn with several
workers, :mod:`gatewatch.prometheus.multiprocess` takes over instead.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from gatewatch import catalogue as c
from gatewatch.histogram import Histogram
from gatewatch.monitor import Monitor, Sink
from gatewatch.prometheus.websocket import SessionStats, collect_sessions, describe_sessions
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.version import VERSION


class _RouteStats:
    """Everything recorded for one (interface, method, route)."""

    __slots__ = (
        "after_response", "blocking", "cpu", "durations", "offload", "offload_queue", "request_bytes",
        "response_bytes", "thread_hops", "ttfb",
    )

    def __init__(self) -> None:
        self.blocking = Histogram(c.BLOCKING_BUCKETS)
        self.cpu = Histogram(c.CPU_BUCKETS)
        self.ttfb = Histogram(c.TTFB_BUCKETS)
        self.offload = Histogram(c.OFFLOAD_BUCKETS)
        self.offload_queue = Histogram(c.OFFLOAD_BUCKETS)
        self.after_response = Histogram(c.TTFB_BUCKETS)
        self.thread_hops = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.durations: dict[str, Histogram] = {}


class PrometheusAggregator(Collector, Sink):
    """A :class:`~gatewatch.monitor.Sink` and a prometheus-client collector in one."""

    def __init__(self, monitor: Monitor) -> None:
        self._monitor = monitor
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str, str], _RouteStats] = {}
        self._concurrency: dict[str, Histogram] = {}
        self._exceptions: dict[tuple[str, str, str], int] = {}
        self._disconnects: dict[tuple[str, str], int] = {}
        self._sessions: dict[str, SessionStats] = {}
        # (interface, route label) -> (view, view_kind); bounded by the route labels.
        self._views: dict[tuple[str, str], tuple[str, str]] = {}
        self._lag = Histogram(c.LAG_BUCKETS)
        self._queue: dict[str, Histogram] = {}
        self._saturated = 0
        # route label -> [blocks, seconds blocked]; bounded by the route labels too.
        self._blocks: dict[str, list[float]] = {}

    # -- Sink -------------------------------------------------------------------------

    def loop_lag(self, seconds: float) -> None:
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
                stats = self._sessions[record.route_label] = SessionStats()
            stats.add(record)

    def request_finished(self, record: RequestRecord) -> None:
        interface = record.interface
        route = record.route_label
        key = (interface, record.method, route)
        with self._lock:
            stats = self._routes.get(key)
            if stats is None:
                stats = self._routes[key] = _RouteStats()
            duration = stats.durations.get(record.status_label)
            if duration is None:
                duration = stats.durations[record.status_label] = Histogram(c.DURATION_BUCKETS)
            duration.observe(record.duration)
            stats.blocking.observe(record.blocking)
            if record.cpu is not None:
                stats.cpu.observe(record.cpu)
            if record.first_byte is not None:
                stats.ttfb.observe(record.first_byte - record.start)
            stats.request_bytes += record.request_bytes
            stats.response_bytes += record.response_bytes
            if record.offload is not None:
                stats.offload.observe(record.offload)
                stats.offload_queue.observe(record.offload_queue)
                stats.thread_hops += record.thread_hops
            if record.view is not None:
                self._views[(interface, route)] = (record.view, record.view_kind)
            if record.queue is not None:
                queue = self._queue.get(interface)
                if queue is None:
                    queue = self._queue[interface] = Histogram(c.QUEUE_BUCKETS)
                queue.observe(record.queue)
            if interface == "wsgi":
                threads = self._monitor.worker_threads
                if threads is not None and record.concurrency + 1 >= threads:
                    self._saturated += 1
            concurrency = self._concurrency.get(interface)
            if concurrency is None:
                concurrency = self._concurrency[interface] = Histogram(c.CONCURRENCY_BUCKETS)
            concurrency.observe(record.concurrency)
            if record.exception is not None:
                ekey = (interface, route, record.exception_label)
                self._exceptions[ekey] = self._exceptions.get(ekey, 0) + 1
            if record.disconnected:
                dkey = (interface, route)
                self._disconnects[dkey] = self._disconnects.get(dkey, 0) + 1

    def request_after_response(self, record: RequestRecord) -> None:
        key = (record.interface, record.method, record.route_label)
        with self._lock:
            stats = self._routes.get(key)
            if stats is None:
                stats = self._routes[key] = _RouteStats()
            stats.after_response.observe(record.after_response or 0.0)
            if record.after_exception_label:
                ekey = (record.interface, record.route_label, record.after_exception_label)
                self._exceptions[ekey] = self._exceptions.get(ekey, 0) + 1

    # -- Collector --------------------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        # Names only, so a registry can refuse a clash without running a scrape.
        yield from _families().values()
        yield from describe_sessions()

    def collect(self) -> Iterator[Metric]:
        f = _families()
        with self._lock:
            for key, stats in self._routes.items():
                labels = list(key)
                for status, hist in stats.durations.items():
                    _add_histogram(f[c.DURATION], [*labels, status], hist)
                _add_histogram(f[c.BLOCKING], labels, stats.blocking)
                _add_histogram(f[c.CPU], labels, stats.cpu)
                _add_histogram(f[c.TTFB], labels, stats.ttfb)
                if stats.after_response.count:
                    _add_histogram(f[c.AFTER_RESPONSE], labels, stats.after_response)
                f[c.REQUEST_BYTES].add_metric(labels, stats.request_bytes)
                f[c.RESPONSE_BYTES].add_metric(labels, stats.response_bytes)
                if stats.offload.count:
                    _add_histogram(f[c.OFFLOAD], labels, stats.offload)
                    _add_histogram(f[c.OFFLOAD_QUEUE], labels, stats.offload_queue)
                    f[c.THREAD_HOPS].add_metric(labels, stats.thread_hops)
            for (interface, route), (view, kind) in self._views.items():
                f[c.ROUTE_VIEW].add_metric([interface, route, view, kind], {})
            if self._lag.count:
                _add_histogram(f[c.LOOP_LAG], [], self._lag)
            for interface, hist in self._queue.items():
                _add_histogram(f[c.QUEUE], [interface], hist)
            for route, (count, seconds) in self._blocks.items():
                f[c.LOOP_BLOCKS].add_metric([route], count)
                f[c.LOOP_BLOCKED].add_metric([route], seconds)
            for interface, hist in self._concurrency.items():
                _add_histogram(f[c.CONCURRENCY], [interface], hist)
            for ekey, count in self._exceptions.items():
                f[c.EXCEPTIONS].add_metric(list(ekey), count)
            for dkey, count in self._disconnects.items():
                f[c.DISCONNECTS].add_metric(list(dkey), count)
            saturated = self._saturated
            websocket = list(collect_sessions(self._sessions, self._monitor.sessions.active()))
        monitor = self._monitor
        for (interface, method), count in sorted(monitor.in_flight().items()):
            f[c.IN_FLIGHT].add_metric([interface, method], count)
        f[c.INTERNAL_ERRORS].add_metric([], monitor.internal_errors)
        for interface, server in sorted(monitor.servers.items()):
            f[c.INFO].add_metric([VERSION, interface, server], {})
        # Worker threads: only once this process has served WSGI, and the total (with the
        # saturation it defines) only when the capacity is known.
        busy = monitor.in_flight_of("wsgi")
        if busy is not None:
            f[c.WORKERS_BUSY].add_metric([], busy)
            if monitor.worker_threads is not None:
                f[c.WORKERS_CAPACITY].add_metric([], monitor.worker_threads)
                f[c.SATURATED].add_metric([], saturated)
        yield from (family for name, family in f.items() if family.samples or name not in _ONLY_WHEN_SET)
        yield from websocket


# Every family this collector exports: (type, name, labels), help from the catalogue.
_SHAPES: tuple[tuple[Callable[..., Metric], str, tuple[str, ...]], ...] = (
    (HistogramMetricFamily, c.DURATION, c.DURATION_LABELS),
    (HistogramMetricFamily, c.BLOCKING, c.ROUTE_LABELS),
    (HistogramMetricFamily, c.CPU, c.ROUTE_LABELS),
    (HistogramMetricFamily, c.TTFB, c.ROUTE_LABELS),
    (HistogramMetricFamily, c.AFTER_RESPONSE, c.ROUTE_LABELS),
    (GaugeMetricFamily, c.IN_FLIGHT, c.IN_FLIGHT_LABELS),
    (HistogramMetricFamily, c.CONCURRENCY, c.CONCURRENCY_LABELS),
    (CounterMetricFamily, c.REQUEST_BYTES, c.ROUTE_LABELS),
    (CounterMetricFamily, c.RESPONSE_BYTES, c.ROUTE_LABELS),
    (CounterMetricFamily, c.EXCEPTIONS, c.EXCEPTION_LABELS),
    (CounterMetricFamily, c.DISCONNECTS, c.DISCONNECT_LABELS),
    (CounterMetricFamily, c.INTERNAL_ERRORS, ()),
    (InfoMetricFamily, c.INFO, c.INFO_LABELS),
    (HistogramMetricFamily, c.OFFLOAD, c.ROUTE_LABELS),
    (HistogramMetricFamily, c.OFFLOAD_QUEUE, c.ROUTE_LABELS),
    (CounterMetricFamily, c.THREAD_HOPS, c.ROUTE_LABELS),
    (InfoMetricFamily, c.ROUTE_VIEW, c.ROUTE_VIEW_LABELS),
    (HistogramMetricFamily, c.LOOP_LAG, ()),
    (CounterMetricFamily, c.LOOP_BLOCKS, c.LOOP_BLOCK_LABELS),
    (CounterMetricFamily, c.LOOP_BLOCKED, c.LOOP_BLOCK_LABELS),
    (HistogramMetricFamily, c.QUEUE, c.QUEUE_LABELS),
    (GaugeMetricFamily, c.WORKERS_BUSY, ()),
    (GaugeMetricFamily, c.WORKERS_CAPACITY, ()),
    (CounterMetricFamily, c.SATURATED, ()),
)
# Families left out of a scrape while they have no sample: a 0 there would claim the
# process served WSGI, or that its capacity is known.
_ONLY_WHEN_SET = frozenset({c.WORKERS_BUSY, c.WORKERS_CAPACITY, c.SATURATED})


def _families() -> dict[str, Any]:
    """Fresh, empty metric families, by catalogue name."""
    return {name: kind(name, c.HELP[name], labels=labels) for kind, name, labels in _SHAPES}


def _add_histogram(family: HistogramMetricFamily, labels: list[str], hist: Histogram) -> None:
    family.add_metric(labels, hist.cumulative_buckets(), hist.sum)


# One monitor per registry: building a middleware many times (test suites, app
# factories, several wrapped apps in one process) reuses it instead of registering
# the same metric names twice.
_monitors: weakref.WeakKeyDictionary[CollectorRegistry, Monitor] = weakref.WeakKeyDictionary()
_monitors_lock = threading.Lock()


def monitor_for_registry(registry: CollectorRegistry, *, max_routes: int = 500) -> Monitor:
    """The monitor that exports into ``registry``, created and registered on first use."""
    with _monitors_lock:
        monitor = _monitors.get(registry)
        if monitor is not None:
            if monitor.max_routes != max_routes:
                raise ValueError(
                    f"max_routes={max_routes} conflicts with the gatewatch monitor already "
                    f"exporting to this registry (max_routes={monitor.max_routes}); pass the "
                    "same value, a separate registry=, or a shared monitor="
                )
            return monitor
        monitor = Monitor(max_routes=max_routes)
        aggregator = PrometheusAggregator(monitor)
        monitor.add_sink(aggregator)
        registry.register(aggregator)
        _monitors[registry] = monitor
        return monitor
