"""Prometheus export for a single process: aggregate plain numbers, build metrics when scraped.

prometheus-client's own metric objects take a lock and scan buckets for every
``observe``; gatewatch records a dozen numbers a request, so it adds them into
per-route state under one lock and turns that state into metric families only
when ``/metrics`` is read (a custom collector). Under gunicorn with several
workers, :mod:`gatewatch.prometheus_multiprocess` takes over instead.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

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
from gatewatch.monitor import Monitor
from gatewatch.prometheus_websocket import SessionStats, collect_sessions, describe_sessions
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.version import VERSION


class _RouteStats:
    """Everything recorded for one (interface, method, route)."""

    __slots__ = (
        "blocking", "cpu", "durations", "offload", "offload_queue", "request_bytes",
        "response_bytes", "thread_hops", "ttfb",
    )

    def __init__(self) -> None:
        self.blocking = Histogram(c.BLOCKING_BUCKETS)
        self.cpu = Histogram(c.CPU_BUCKETS)
        self.ttfb = Histogram(c.TTFB_BUCKETS)
        self.offload = Histogram(c.OFFLOAD_BUCKETS)
        self.offload_queue = Histogram(c.OFFLOAD_BUCKETS)
        self.thread_hops = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.durations: dict[str, Histogram] = {}


class PrometheusAggregator(Collector):
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

    def request_started(self, record: RequestRecord) -> None:
        pass

    def internal_error(self) -> None:
        pass

    def session_accepted(self, record: WebSocketRecord) -> None:
        pass

    def worker_threads_known(self, threads: int) -> None:
        # Read from the monitor when scraped.
        pass

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

    # -- Collector --------------------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        # Names only, so a registry can refuse a clash without running a scrape.
        yield HistogramMetricFamily(c.DURATION, c.HELP[c.DURATION], labels=c.DURATION_LABELS)
        yield HistogramMetricFamily(c.BLOCKING, c.HELP[c.BLOCKING], labels=c.ROUTE_LABELS)
        yield HistogramMetricFamily(c.CPU, c.HELP[c.CPU], labels=c.ROUTE_LABELS)
        yield HistogramMetricFamily(c.TTFB, c.HELP[c.TTFB], labels=c.ROUTE_LABELS)
        yield GaugeMetricFamily(c.IN_FLIGHT, c.HELP[c.IN_FLIGHT], labels=c.IN_FLIGHT_LABELS)
        yield HistogramMetricFamily(c.CONCURRENCY, c.HELP[c.CONCURRENCY], labels=c.CONCURRENCY_LABELS)
        yield CounterMetricFamily(c.REQUEST_BYTES, c.HELP[c.REQUEST_BYTES], labels=c.ROUTE_LABELS)
        yield CounterMetricFamily(c.RESPONSE_BYTES, c.HELP[c.RESPONSE_BYTES], labels=c.ROUTE_LABELS)
        yield CounterMetricFamily(c.EXCEPTIONS, c.HELP[c.EXCEPTIONS], labels=c.EXCEPTION_LABELS)
        yield CounterMetricFamily(c.DISCONNECTS, c.HELP[c.DISCONNECTS], labels=c.DISCONNECT_LABELS)
        yield CounterMetricFamily(c.INTERNAL_ERRORS, c.HELP[c.INTERNAL_ERRORS])
        yield InfoMetricFamily(c.INFO, c.HELP[c.INFO], labels=c.INFO_LABELS)
        yield HistogramMetricFamily(c.OFFLOAD, c.HELP[c.OFFLOAD], labels=c.ROUTE_LABELS)
        yield HistogramMetricFamily(c.OFFLOAD_QUEUE, c.HELP[c.OFFLOAD_QUEUE], labels=c.ROUTE_LABELS)
        yield CounterMetricFamily(c.THREAD_HOPS, c.HELP[c.THREAD_HOPS], labels=c.ROUTE_LABELS)
        yield InfoMetricFamily(c.ROUTE_VIEW, c.HELP[c.ROUTE_VIEW], labels=c.ROUTE_VIEW_LABELS)
        yield HistogramMetricFamily(c.QUEUE, c.HELP[c.QUEUE], labels=c.QUEUE_LABELS)
        yield GaugeMetricFamily(c.WORKERS_BUSY, c.HELP[c.WORKERS_BUSY])
        yield GaugeMetricFamily(c.WORKERS_TOTAL, c.HELP[c.WORKERS_TOTAL])
        yield CounterMetricFamily(c.SATURATED, c.HELP[c.SATURATED])
        yield HistogramMetricFamily(c.LOOP_LAG, c.HELP[c.LOOP_LAG])
        yield CounterMetricFamily(c.LOOP_BLOCKS, c.HELP[c.LOOP_BLOCKS], labels=c.LOOP_BLOCK_LABELS)
        yield CounterMetricFamily(c.LOOP_BLOCKED, c.HELP[c.LOOP_BLOCKED], labels=c.LOOP_BLOCK_LABELS)
        yield from describe_sessions()

    def collect(self) -> Iterator[Metric]:
        duration = HistogramMetricFamily(c.DURATION, c.HELP[c.DURATION], labels=c.DURATION_LABELS)
        blocking = HistogramMetricFamily(c.BLOCKING, c.HELP[c.BLOCKING], labels=c.ROUTE_LABELS)
        cpu = HistogramMetricFamily(c.CPU, c.HELP[c.CPU], labels=c.ROUTE_LABELS)
        ttfb = HistogramMetricFamily(c.TTFB, c.HELP[c.TTFB], labels=c.ROUTE_LABELS)
        request_bytes = CounterMetricFamily(
            c.REQUEST_BYTES, c.HELP[c.REQUEST_BYTES], labels=c.ROUTE_LABELS
        )
        response_bytes = CounterMetricFamily(
            c.RESPONSE_BYTES, c.HELP[c.RESPONSE_BYTES], labels=c.ROUTE_LABELS
        )
        concurrency = HistogramMetricFamily(
            c.CONCURRENCY, c.HELP[c.CONCURRENCY], labels=c.CONCURRENCY_LABELS
        )
        exceptions = CounterMetricFamily(c.EXCEPTIONS, c.HELP[c.EXCEPTIONS], labels=c.EXCEPTION_LABELS)
        disconnects = CounterMetricFamily(
            c.DISCONNECTS, c.HELP[c.DISCONNECTS], labels=c.DISCONNECT_LABELS
        )
        offload = HistogramMetricFamily(c.OFFLOAD, c.HELP[c.OFFLOAD], labels=c.ROUTE_LABELS)
        offload_queue = HistogramMetricFamily(
            c.OFFLOAD_QUEUE, c.HELP[c.OFFLOAD_QUEUE], labels=c.ROUTE_LABELS
        )
        thread_hops = CounterMetricFamily(c.THREAD_HOPS, c.HELP[c.THREAD_HOPS], labels=c.ROUTE_LABELS)
        views = InfoMetricFamily(c.ROUTE_VIEW, c.HELP[c.ROUTE_VIEW], labels=c.ROUTE_VIEW_LABELS)
        lag = HistogramMetricFamily(c.LOOP_LAG, c.HELP[c.LOOP_LAG], labels=[])
        queue = HistogramMetricFamily(c.QUEUE, c.HELP[c.QUEUE], labels=c.QUEUE_LABELS)
        blocks = CounterMetricFamily(c.LOOP_BLOCKS, c.HELP[c.LOOP_BLOCKS], labels=c.LOOP_BLOCK_LABELS)
        blocked = CounterMetricFamily(c.LOOP_BLOCKED, c.HELP[c.LOOP_BLOCKED], labels=c.LOOP_BLOCK_LABELS)
        with self._lock:
            for key, stats in self._routes.items():
                labels = list(key)
                for status, hist in stats.durations.items():
                    _add_histogram(duration, [*labels, status], hist)
                _add_histogram(blocking, labels, stats.blocking)
                _add_histogram(cpu, labels, stats.cpu)
                _add_histogram(ttfb, labels, stats.ttfb)
                request_bytes.add_metric(labels, stats.request_bytes)
                response_bytes.add_metric(labels, stats.response_bytes)
                if stats.offload.count:
                    _add_histogram(offload, labels, stats.offload)
                    _add_histogram(offload_queue, labels, stats.offload_queue)
                    thread_hops.add_metric(labels, stats.thread_hops)
            for (interface, route), (view, kind) in self._views.items():
                views.add_metric([interface, route, view, kind], {})
            if self._lag.count:
                _add_histogram(lag, [], self._lag)
            for interface, hist in self._queue.items():
                _add_histogram(queue, [interface], hist)
            saturated = self._saturated
            for route, (count, seconds) in self._blocks.items():
                blocks.add_metric([route], count)
                blocked.add_metric([route], seconds)
            for interface, hist in self._concurrency.items():
                _add_histogram(concurrency, [interface], hist)
            for ekey, count in self._exceptions.items():
                exceptions.add_metric(list(ekey), count)
            for dkey, count in self._disconnects.items():
                disconnects.add_metric(list(dkey), count)
            websocket = list(collect_sessions(self._sessions, self._monitor.sessions.active()))
        in_flight = GaugeMetricFamily(c.IN_FLIGHT, c.HELP[c.IN_FLIGHT], labels=c.IN_FLIGHT_LABELS)
        for (interface, method), count in sorted(self._monitor.in_flight().items()):
            in_flight.add_metric([interface, method], count)
        internal = CounterMetricFamily(c.INTERNAL_ERRORS, c.HELP[c.INTERNAL_ERRORS])
        internal.add_metric([], self._monitor.internal_errors)
        info = InfoMetricFamily(c.INFO, c.HELP[c.INFO], labels=c.INFO_LABELS)
        for interface, server in sorted(self._monitor.servers.items()):
            info.add_metric([VERSION, interface, server], {})
        yield from (duration, blocking, cpu, ttfb, in_flight, concurrency)
        yield from (request_bytes, response_bytes, exceptions, disconnects, internal, info)
        yield from (offload, offload_queue, thread_hops, views, lag, blocks, blocked, queue)
        yield from self._workers(saturated)
        yield from websocket


    def _workers(self, saturated: int) -> Iterator[Metric]:
        """Busy versus total worker threads of this WSGI process; nothing before it served WSGI."""
        in_flight = self._monitor.in_flight()
        if not any(interface == "wsgi" for interface, _ in in_flight):
            return
        busy = GaugeMetricFamily(c.WORKERS_BUSY, c.HELP[c.WORKERS_BUSY])
        busy.add_metric([], sum(n for (interface, _), n in in_flight.items() if interface == "wsgi"))
        yield busy
        threads = self._monitor.worker_threads
        if threads is not None:
            total = GaugeMetricFamily(c.WORKERS_TOTAL, c.HELP[c.WORKERS_TOTAL])
            total.add_metric([], threads)
            yield total
            counter = CounterMetricFamily(c.SATURATED, c.HELP[c.SATURATED])
            counter.add_metric([], saturated)
            yield counter


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
