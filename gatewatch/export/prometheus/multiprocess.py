"""Prometheus export across worker processes (gunicorn ``-w N``), via prometheus-client's files.

Each worker writes its numbers into prometheus-client's memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` and whichever worker answers ``/metrics`` merges them
(:class:`prometheus_client.multiprocess.MultiProcessCollector`). That needs real
prometheus-client metric objects, so this sink uses them, with the labelled
children cached per label set so the hot path skips the label look-up.

:mod:`gatewatch.integrations.gunicorn`'s hooks set the directory up before the workers fork, clear an
earlier run's files, and drop a dead worker's live gauges (``child_exit``); under servers
without such hooks the scrape leaves dead workers' live gauges out by itself
(:mod:`gatewatch.export.prometheus._worker_files`).
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from gatewatch import catalogue as c
from gatewatch._histogram import DEFAULT_CHOICE, HistogramChoice
from gatewatch._labels import BoundedLabels
from gatewatch._multiprocess_dir import (
    check_directory,
    multiprocess_directory,
    use_multiprocess_values,
    warn_stale_files,
)
from gatewatch.export.prometheus._worker_files import forget_predecessor
from gatewatch.export.prometheus.shared_labels import shared_admission
from gatewatch.export.prometheus.websocket import MAX_CLOSE_CODES, close_code_label
from gatewatch.monitor import MAX_EXCEPTION_TYPES, Monitor, Sink
from gatewatch.options import Options
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.version import VERSION


class MultiprocessSink(Sink):
    """A :class:`~gatewatch.monitor.Sink` writing into prometheus-client's multiprocess files."""

    def __init__(self, histograms: HistogramChoice = DEFAULT_CHOICE) -> None:
        self.histograms = histograms
        # registry=None: the values live in the files, and the scrape merges the files;
        # registering these too would report this worker twice.
        # The worker-thread families are made once known: prometheus-client writes a metric's
        # value into this process's file when it is made, and a 0 there would read as a worker
        # that can serve nothing (an ASGI worker, or a WSGI one before it was told), or as a
        # process serving WSGI (uvicorn's workers), as the single-process scrape leaves them out.
        m = {
            spec.key: _new_metric(spec, histograms)
            for spec in c.METRICS
            if (spec.kind != "histogram" or spec.key in histograms.enabled)
            and spec.key not in _WORKER_THREADS
        }
        # Attributes, not look-ups, on the hot path. A histogram family not exported is None
        # (one check per request); every other family is always there.
        self._duration: Any = m.get("duration")
        self._blocking: Any = m.get("blocking")
        self._cpu: Any = m.get("cpu")
        self._ttfb: Any = m.get("ttfb")
        self._after_response: Any = m.get("after_response")
        self._concurrency: Any = m.get("concurrency")
        self._offload: Any = m.get("offload")
        self._offload_queue: Any = m.get("offload_queue")
        self._queue: Any = m.get("queue")
        self._lag: Any = m.get("loop_lag")
        self._ws_duration: Any = m.get("websocket_duration")
        self._ws_blocking: Any = m.get("websocket_blocking")
        self._in_flight: Any = m["in_flight"]
        self._request_bytes: Any = m["request_bytes"]
        self._response_bytes: Any = m["response_bytes"]
        self._exceptions: Any = m["exceptions"]
        self._disconnects: Any = m["disconnects"]
        self._internal_errors: Any = m["internal_errors"]
        self._info: Any = m["info"]
        self._thread_hops: Any = m["thread_hops"]
        self._route_view: Any = m["route_view"]
        # Per worker process (a pid label), live processes only.
        self._workers_busy: Any = None
        self._workers_capacity: Any = None
        self._saturated: Any = None
        # Two objects for one series would each write their own count into the file.
        self._workers_lock = threading.Lock()
        self._blocks: Any = m["loop_blocks"]
        self._blocked: Any = m["loop_blocked"]
        self._ws_active: Any = m["websocket_active"]
        self._ws_sessions: Any = m["websocket_sessions"]
        self._ws_messages: Any = m["websocket_messages"]
        self._ws_bytes: Any = m["websocket_bytes"]
        self._ws_closes: Any = m["websocket_closes"]
        self._ws_exceptions: Any = m["websocket_exceptions"]
        self._worker_threads: int | None = None
        # Close codes are the client's to choose: bounded across the server (_share_label_caps).
        self.close_codes = BoundedLabels(limit=MAX_CLOSE_CODES, overflow="other")
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
        with self._workers_lock:
            if self._workers_capacity is None:
                self._workers_capacity = _new_metric(c.BY_KEY["workers_capacity"], self.histograms)
            if self._saturated is None:
                self._saturated = _new_metric(c.BY_KEY["saturated"], self.histograms)
        self._busy_gauge()
        self._workers_capacity.set(threads)

    def _busy_gauge(self) -> Any:
        busy = self._workers_busy
        if busy is None:
            with self._workers_lock:
                if self._workers_busy is None:
                    self._workers_busy = _new_metric(c.BY_KEY["workers_busy"], self.histograms)
                busy = self._workers_busy
        return busy

    def request_started(self, record: RequestRecord) -> None:
        if record.interface == "wsgi":
            self._busy_gauge().inc()
        key = (record.interface, record.method)
        child = self._in_flight_children.get(key)
        if child is None:
            child = self._in_flight_children[key] = self._in_flight.labels(*key)
        child.inc()

    def request_left(self, record: RequestRecord) -> None:
        self._in_flight_children[(record.interface, record.method)].dec()
        if record.interface == "wsgi":
            self._busy_gauge().dec()

    def _add_after_response(self, record: RequestRecord) -> None:
        if self._after_response is not None:
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
                _child(self._blocking, key),
                _child(self._cpu, key),
                _child(self._ttfb, key),
                self._request_bytes.labels(*key),
                self._response_bytes.labels(*key),
            )
        blocking, cpu, ttfb, request_bytes, response_bytes = children
        if self._duration is not None:
            dkey = (*key, record.status_label)
            duration = self._duration_children.get(dkey)
            if duration is None:
                duration = self._duration_children[dkey] = self._duration.labels(*dkey)
            duration.observe(record.duration)
        if blocking is not None:
            blocking.observe(record.blocking)
        if record.cpu is not None and cpu is not None:
            cpu.observe(record.cpu)
        if record.first_byte is not None and ttfb is not None:
            ttfb.observe(record.first_byte - record.start)
        if record.request_bytes:
            request_bytes.inc(record.request_bytes)
        if record.response_bytes:
            response_bytes.inc(record.response_bytes)
        if self._concurrency is not None:
            concurrency = self._concurrency_children.get(interface)
            if concurrency is None:
                concurrency = self._concurrency_children[interface] = self._concurrency.labels(interface)
            concurrency.observe(record.concurrency)
        if interface == "wsgi":
            threads = self._worker_threads
            if threads is not None and record.concurrency + 1 >= threads and self._saturated is not None:
                self._saturated.inc()
        if record.queue is not None and self._queue is not None:
            self._queue.labels(interface).observe(record.queue)
        if record.offload is not None:
            offload_children = self._offload_children.get(key)
            if offload_children is None:
                offload_children = self._offload_children[key] = (
                    _child(self._offload, key),
                    _child(self._offload_queue, key),
                    self._thread_hops.labels(*key),
                )
            offload, offload_queue, thread_hops = offload_children
            if offload is not None:
                offload.observe(record.offload)
            if offload_queue is not None:
                offload_queue.observe(record.offload_queue)
            if record.thread_hops:
                thread_hops.inc(record.thread_hops)
        if record.view is not None:
            self._note_view(interface, route, record.view, record.view_kind)
        if record.exception is not None:
            self._exceptions.labels(interface, route, record.exception_label).inc()
        if record.disconnected:
            self._disconnects.labels(interface, route).inc()
        if record.after_response is not None:
            self._add_after_response(record)

    def loop_lag(self, seconds: float) -> None:
        if self._lag is not None:
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
        if self._ws_blocking is not None:
            self._ws_blocking.labels(route).observe(record.blocking)
        duration = record.session_duration
        if duration is not None:
            self._ws_active.labels(route).dec()
            if self._ws_duration is not None:
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


# Made when the process turns out to serve WSGI or learns its worker threads.
_WORKER_THREADS = frozenset({"workers_busy", "workers_capacity", "saturated"})
# Info metrics do not merge across processes; a 0/1 gauge taking the max does.
_WRAPPERS: dict[str, Any] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram, "info": Gauge}


def _new_metric(spec: c.MetricSpec, histograms: HistogramChoice) -> Any:
    """prometheus-client's metric object for ``spec``, not registered anywhere."""
    options: dict[str, Any] = {}
    if spec.kind == "histogram":
        options["buckets"] = histograms.bounds(spec.key)
    if spec.multiprocess_mode is not None:
        options["multiprocess_mode"] = spec.multiprocess_mode
    return _WRAPPERS[spec.kind](spec.name, spec.help, spec.labels, registry=None, **options)


def _child(metric: Any, labels: tuple[str, ...]) -> Any:
    """The labelled child of ``metric``, None for a histogram family not exported."""
    return None if metric is None else metric.labels(*labels)


def _share_label_caps(monitor: Monitor, sink: MultiprocessSink) -> None:
    """Bound the label values of the whole server, not of each worker
    (gatewatch.export.prometheus.shared_labels)."""
    directory = multiprocess_directory()
    monitor.routes.share(shared_admission(directory, "routes", limit=monitor.max_routes))
    monitor.exception_types.share(shared_admission(directory, "exceptions", limit=MAX_EXCEPTION_TYPES))
    sink.close_codes.share(shared_admission(directory, "close_codes", limit=MAX_CLOSE_CODES))


def new_process_monitor(
    *, max_routes: int = Options.max_routes, histograms: HistogramChoice = DEFAULT_CHOICE
) -> tuple[Monitor, MultiprocessSink]:
    """A monitor writing into prometheus-client's multiprocess files. A process keeps one
    (:meth:`gatewatch.runtime.Runtime.process_monitor`): a second set of metric objects would
    overwrite the first one's values in the shared files.

    Checks the directory (ValueError naming the variable when it is missing, not a directory or
    not writable) and warns once about files an earlier run left there.
    """
    directory = check_directory()
    use_multiprocess_values()
    warn_stale_files(directory)
    # Before the first metric opens its files: an earlier process with this pid left them.
    forget_predecessor(directory)
    sink = MultiprocessSink(histograms)
    monitor = Monitor(max_routes=max_routes, sinks=(sink,))
    _share_label_caps(monitor, sink)
    return monitor, sink


def check_same(
    monitor: Monitor, sink: MultiprocessSink, max_routes: int, histograms: HistogramChoice
) -> None:
    """ValueError unless every middleware of the process asks for the same: the workers' files
    would not merge into one set of series otherwise."""
    if monitor.max_routes != max_routes:
        raise ValueError(
            f"max_routes={max_routes} conflicts with this process's gatewatch monitor "
            f"(max_routes={monitor.max_routes})"
        )
    if sink.histograms != histograms:
        raise ValueError(
            f"{histograms.describe()} conflicts with this process's gatewatch monitor "
            f"({sink.histograms.describe()})"
        )
