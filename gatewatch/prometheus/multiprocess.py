"""Prometheus export across worker processes (gunicorn ``-w N``), via prometheus-client's files.

Each worker writes its numbers into prometheus-client's memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` and whichever worker answers ``/metrics`` merges them
(:class:`prometheus_client.multiprocess.MultiProcessCollector`). That needs real
prometheus-client metric objects, so this sink uses them, with the labelled
children cached per label set so the hot path skips the label look-up.

:mod:`gatewatch.gunicorn`'s hooks set the directory up before the workers fork, clear an
earlier run's files, and drop a dead worker's live gauges (``child_exit``).
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from gatewatch import catalogue as c
from gatewatch.labels import BoundedLabels
from gatewatch.monitor import MAX_EXCEPTION_TYPES, Monitor, Sink
from gatewatch.multiprocess_dir import (
    check_directory,
    multiprocess_directory,
    use_multiprocess_values,
    warn_stale_files,
)
from gatewatch.prometheus.shared_labels import shared_admission
from gatewatch.prometheus.websocket import MAX_CLOSE_CODES, close_code_label
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.version import VERSION


class MultiprocessSink(Sink):
    """A :class:`~gatewatch.monitor.Sink` writing into prometheus-client's multiprocess files."""

    def __init__(self) -> None:
        # registry=None: the values live in the files, and the scrape merges the files;
        # registering these too would report this worker twice.
        self._duration = Histogram(
            c.DURATION, c.HELP[c.DURATION], c.DURATION_LABELS, registry=None,
            buckets=c.DURATION_BUCKETS,
        )
        self._blocking = Histogram(
            c.BLOCKING, c.HELP[c.BLOCKING], c.ROUTE_LABELS, registry=None,
            buckets=c.BLOCKING_BUCKETS,
        )
        self._cpu = Histogram(
            c.CPU, c.HELP[c.CPU], c.ROUTE_LABELS, registry=None, buckets=c.CPU_BUCKETS
        )
        self._ttfb = Histogram(
            c.TTFB, c.HELP[c.TTFB], c.ROUTE_LABELS, registry=None, buckets=c.TTFB_BUCKETS
        )
        self._after_response = Histogram(
            c.AFTER_RESPONSE, c.HELP[c.AFTER_RESPONSE], c.ROUTE_LABELS, registry=None,
            buckets=c.TTFB_BUCKETS,
        )
        self._in_flight = Gauge(
            c.IN_FLIGHT, c.HELP[c.IN_FLIGHT], c.IN_FLIGHT_LABELS, registry=None,
            multiprocess_mode="livesum",
        )
        self._concurrency = Histogram(
            c.CONCURRENCY, c.HELP[c.CONCURRENCY], c.CONCURRENCY_LABELS, registry=None,
            buckets=c.CONCURRENCY_BUCKETS,
        )
        self._request_bytes = Counter(
            c.REQUEST_BYTES, c.HELP[c.REQUEST_BYTES], c.ROUTE_LABELS, registry=None
        )
        self._response_bytes = Counter(
            c.RESPONSE_BYTES, c.HELP[c.RESPONSE_BYTES], c.ROUTE_LABELS, registry=None
        )
        self._exceptions = Counter(
            c.EXCEPTIONS, c.HELP[c.EXCEPTIONS], c.EXCEPTION_LABELS, registry=None
        )
        self._disconnects = Counter(
            c.DISCONNECTS, c.HELP[c.DISCONNECTS], c.DISCONNECT_LABELS, registry=None
        )
        self._internal_errors = Counter(
            c.INTERNAL_ERRORS, c.HELP[c.INTERNAL_ERRORS], registry=None
        )
        # Info metrics do not merge across processes; a 0/1 gauge taking the max does.
        self._info = Gauge(
            c.INFO + "_info", c.HELP[c.INFO], c.INFO_LABELS, registry=None,
            multiprocess_mode="max",
        )
        self._offload = Histogram(
            c.OFFLOAD, c.HELP[c.OFFLOAD], c.ROUTE_LABELS, registry=None, buckets=c.OFFLOAD_BUCKETS
        )
        self._offload_queue = Histogram(
            c.OFFLOAD_QUEUE, c.HELP[c.OFFLOAD_QUEUE], c.ROUTE_LABELS, registry=None,
            buckets=c.OFFLOAD_BUCKETS,
        )
        self._thread_hops = Counter(c.THREAD_HOPS, c.HELP[c.THREAD_HOPS], c.ROUTE_LABELS, registry=None)
        self._route_view = Gauge(
            c.ROUTE_VIEW + "_info", c.HELP[c.ROUTE_VIEW], c.ROUTE_VIEW_LABELS, registry=None,
            multiprocess_mode="max",
        )
        self._queue = Histogram(
            c.QUEUE, c.HELP[c.QUEUE], c.QUEUE_LABELS, registry=None, buckets=c.QUEUE_BUCKETS
        )
        # Per worker process (a pid label), live processes only.
        self._workers_busy = Gauge(
            c.WORKERS_BUSY, c.HELP[c.WORKERS_BUSY], registry=None, multiprocess_mode="liveall"
        )
        self._workers_capacity = Gauge(
            c.WORKERS_CAPACITY, c.HELP[c.WORKERS_CAPACITY], registry=None, multiprocess_mode="liveall"
        )
        self._saturated = Counter(c.SATURATED, c.HELP[c.SATURATED], registry=None)
        self._worker_threads: int | None = None
        self._lag = Histogram(
            c.LOOP_LAG, c.HELP[c.LOOP_LAG], registry=None, buckets=c.LAG_BUCKETS
        )
        self._blocks = Counter(c.LOOP_BLOCKS, c.HELP[c.LOOP_BLOCKS], c.LOOP_BLOCK_LABELS, registry=None)
        self._blocked = Counter(c.LOOP_BLOCKED, c.HELP[c.LOOP_BLOCKED], c.LOOP_BLOCK_LABELS, registry=None)
        self._ws_active = Gauge(
            c.WS_ACTIVE, c.HELP[c.WS_ACTIVE], c.WS_ROUTE_LABELS, registry=None,
            multiprocess_mode="livesum",
        )
        self._ws_sessions = Counter(
            c.WS_SESSIONS, c.HELP[c.WS_SESSIONS], c.WS_SESSION_LABELS, registry=None
        )
        self._ws_duration = Histogram(
            c.WS_DURATION, c.HELP[c.WS_DURATION], c.WS_ROUTE_LABELS, registry=None,
            buckets=c.SESSION_BUCKETS,
        )
        self._ws_blocking = Histogram(
            c.WS_BLOCKING, c.HELP[c.WS_BLOCKING], c.WS_ROUTE_LABELS, registry=None,
            buckets=c.BLOCKING_BUCKETS,
        )
        self._ws_messages = Counter(
            c.WS_MESSAGES, c.HELP[c.WS_MESSAGES], c.WS_MESSAGE_LABELS, registry=None
        )
        self._ws_bytes = Counter(c.WS_BYTES, c.HELP[c.WS_BYTES], c.WS_BYTES_LABELS, registry=None)
        self._ws_closes = Counter(c.WS_CLOSES, c.HELP[c.WS_CLOSES], c.WS_CLOSE_LABELS, registry=None)
        # Close codes are the client's to choose: bounded across the server (process_monitor).
        self.close_codes = BoundedLabels(limit=MAX_CLOSE_CODES, overflow="other")
        self._ws_exceptions = Counter(
            c.WS_EXCEPTIONS, c.HELP[c.WS_EXCEPTIONS], c.WS_EXCEPTION_LABELS, registry=None
        )
        self._route_children: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        self._duration_children: dict[tuple[str, str, str, str], Any] = {}
        self._in_flight_children: dict[tuple[str, str], Any] = {}
        self._concurrency_children: dict[str, Any] = {}
        self._offload_children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        self._views_seen: dict[tuple[str, str], tuple[str, str]] = {}

    def note_server(self, interface: str, server: str) -> None:
        self._info.labels(VERSION, interface, server).set(1)

    def worker_threads_known(self, threads: int) -> None:
        self._worker_threads = threads
        self._workers_capacity.set(threads)

    def request_started(self, record: RequestRecord) -> None:
        if record.interface == "wsgi":
            self._workers_busy.inc()
        key = (record.interface, record.method)
        child = self._in_flight_children.get(key)
        if child is None:
            child = self._in_flight_children[key] = self._in_flight.labels(*key)
        child.inc()

    def request_left(self, record: RequestRecord) -> None:
        self._in_flight_children[(record.interface, record.method)].dec()
        if record.interface == "wsgi":
            self._workers_busy.dec()

    def request_after_response(self, record: RequestRecord) -> None:
        self._after_response.labels(record.interface, record.method, record.route_label).observe(
            record.after_response or 0.0
        )
        if record.after_exception_label:
            self._exceptions.labels(record.interface, record.route_label, record.after_exception_label).inc()

    def internal_error(self) -> None:
        self._internal_errors.inc()

    def request_finished(self, record: RequestRecord) -> None:
        interface = record.interface
        route = record.route_label
        key = (interface, record.method, route)
        children = self._route_children.get(key)
        if children is None:
            children = self._route_children[key] = (
                self._blocking.labels(*key),
                self._cpu.labels(*key),
                self._ttfb.labels(*key),
                self._request_bytes.labels(*key),
                self._response_bytes.labels(*key),
            )
        blocking, cpu, ttfb, request_bytes, response_bytes = children
        dkey = (*key, record.status_label)
        duration = self._duration_children.get(dkey)
        if duration is None:
            duration = self._duration_children[dkey] = self._duration.labels(*dkey)
        duration.observe(record.duration)
        blocking.observe(record.blocking)
        if record.cpu is not None:
            cpu.observe(record.cpu)
        if record.first_byte is not None:
            ttfb.observe(record.first_byte - record.start)
        if record.request_bytes:
            request_bytes.inc(record.request_bytes)
        if record.response_bytes:
            response_bytes.inc(record.response_bytes)
        concurrency = self._concurrency_children.get(interface)
        if concurrency is None:
            concurrency = self._concurrency_children[interface] = self._concurrency.labels(interface)
        concurrency.observe(record.concurrency)
        if interface == "wsgi":
            threads = self._worker_threads
            if threads is not None and record.concurrency + 1 >= threads:
                self._saturated.inc()
        if record.queue is not None:
            self._queue.labels(interface).observe(record.queue)
        if record.offload is not None:
            offload_children = self._offload_children.get(key)
            if offload_children is None:
                offload_children = self._offload_children[key] = (
                    self._offload.labels(*key),
                    self._offload_queue.labels(*key),
                    self._thread_hops.labels(*key),
                )
            offload, offload_queue, thread_hops = offload_children
            offload.observe(record.offload)
            offload_queue.observe(record.offload_queue)
            if record.thread_hops:
                thread_hops.inc(record.thread_hops)
        if record.view is not None:
            self._note_view(interface, route, record.view, record.view_kind)
        if record.exception is not None:
            self._exceptions.labels(interface, route, record.exception_label).inc()
        if record.disconnected:
            self._disconnects.labels(interface, route).inc()

    def loop_lag(self, seconds: float) -> None:
        self._lag.observe(seconds)

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        self._blocks.labels(route).inc()
        self._blocked.labels(route).inc(duration)

    def _note_view(self, interface: str, route: str, view: str, view_kind: str) -> None:
        # Set once per pairing: routes map to one view for a worker's whole life.
        if self._views_seen.get((interface, route)) == (view, view_kind):
            return
        self._views_seen[(interface, route)] = (view, view_kind)
        self._route_view.labels(interface, route, view, view_kind).set(1)

    def session_accepted(self, record: WebSocketRecord) -> None:
        self._ws_active.labels(record.route_label).inc()

    def session_finished(self, record: WebSocketRecord) -> None:
        route = record.route_label
        self._ws_sessions.labels(route, record.outcome).inc()
        self._ws_blocking.labels(route).observe(record.blocking)
        duration = record.session_duration
        if duration is not None:
            self._ws_active.labels(route).dec()
            self._ws_duration.labels(route).observe(duration)
            code = self.close_codes.label(close_code_label(record.close_code))
            self._ws_closes.labels(route, code, record.initiator).inc()
        for direction, kind, count in (
            ("received", "text", record.received_text),
            ("received", "binary", record.received_binary),
            ("sent", "text", record.sent_text),
            ("sent", "binary", record.sent_binary),
        ):
            if count:
                self._ws_messages.labels(route, direction, kind).inc(count)
        if record.received_bytes:
            self._ws_bytes.labels(route, "received").inc(record.received_bytes)
        if record.sent_bytes:
            self._ws_bytes.labels(route, "sent").inc(record.sent_bytes)
        if record.exception is not None:
            self._ws_exceptions.labels(route, record.exception_label).inc()


def _share_label_caps(monitor: Monitor, sink: MultiprocessSink) -> None:
    """Bound the label values of the whole server, not of each worker (gatewatch.prometheus.shared_labels)."""
    directory = multiprocess_directory()
    monitor.routes.share(shared_admission(directory, "routes", limit=monitor.max_routes))
    monitor.exception_types.share(shared_admission(directory, "exceptions", limit=MAX_EXCEPTION_TYPES))
    sink.close_codes.share(shared_admission(directory, "close_codes", limit=MAX_CLOSE_CODES))


_process_monitor: Monitor | None = None
_process_sink: MultiprocessSink | None = None
_lock = threading.Lock()


def process_monitor(*, max_routes: int = 500) -> tuple[Monitor, MultiprocessSink]:
    """The one monitor of this worker process; a second set of metric objects would
    overwrite the first one's values in the shared files.

    The first call checks the directory (ValueError naming the variable when it is missing,
    not a directory or not writable) and warns once about files an earlier run left there.
    """
    global _process_monitor, _process_sink
    with _lock:
        if _process_monitor is None or _process_sink is None:
            directory = check_directory()
            use_multiprocess_values()
            warn_stale_files(directory)
            _process_sink = MultiprocessSink()
            _process_monitor = Monitor(max_routes=max_routes, sinks=(_process_sink,))
            _share_label_caps(_process_monitor, _process_sink)
        elif _process_monitor.max_routes != max_routes:
            raise ValueError(
                f"max_routes={max_routes} conflicts with this process's gatewatch monitor "
                f"(max_routes={_process_monitor.max_routes})"
            )
        return _process_monitor, _process_sink
