"""Prometheus export across worker processes (gunicorn ``-w N``), via prometheus-client's files.

Each worker writes its numbers into prometheus-client's memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` and whichever worker answers ``/metrics`` merges them
(:class:`prometheus_client.multiprocess.MultiProcessCollector`). That needs real
prometheus-client metric objects, so this sink uses them, with the labelled
children cached per label set so the hot path skips the label look-up.

:mod:`gatewatch.integrations.gunicorn`'s hooks set the directory up before the workers fork, clear an
earlier run's files, and drop a dead worker's live gauges (``child_exit``); under servers
without such hooks the scrape leaves dead workers' live gauges out by itself
(:mod:`gatewatch.export.prometheus._worker_files`). Dead workers' other files are folded into one
per kind at scrape time (:mod:`gatewatch.export.prometheus._fold`), so recycled workers
(``--max-requests``) do not make scrapes dearer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from gatewatch import _measure as m
from gatewatch import catalogue as c
from gatewatch._histogram import DEFAULT_CHOICE, HistogramChoice
from gatewatch._multiprocess_dir import (
    check_directory,
    multiprocess_directory,
    use_multiprocess_values,
    warn_stale_files,
)
from gatewatch.export.prometheus._worker_files import forget_predecessor
from gatewatch.export.prometheus.shared_labels import shared_admission
from gatewatch.monitor import MAX_EXCEPTION_TYPES, Monitor, Sink
from gatewatch.options import Options
from gatewatch.record import RequestRecord, WebSocketRecord


class MultiprocessSink(Sink):
    """A :class:`~gatewatch.monitor.Sink` writing into prometheus-client's multiprocess files.

    It writes the measurements of :mod:`gatewatch._measure` (never a record itself): every
    request's, at once (a worker's files are all a scrape sees), and the monitor's events as
    changes of the gauges.
    """

    def __init__(self, histograms: HistogramChoice = DEFAULT_CHOICE) -> None:
        self.histograms = histograms
        self._positions = m.request_positions(histograms.label_names)
        # Per slot: whether the family is exported, and prometheus-client's metric, not
        # registered anywhere (registry=None: the values live in the files, and the scrape
        # merges the files; registering these too would report this worker twice).
        self._exported = tuple(
            spec.kind != "histogram" or spec.key in histograms.enabled for spec in c.METRICS
        )
        # A sparse family's metric is made when it is first measured: prometheus-client writes
        # a metric's value into this process's file when it is made, and a 0 there would read
        # as a worker that can serve nothing (an ASGI worker, or a WSGI one before it was told),
        # or as a process serving WSGI (uvicorn's workers), as the single-process scrape leaves
        # them out.
        self._metrics: list[Any] = [
            _new_metric(slot, histograms) if exported and not spec.sparse else None
            for slot, (spec, exported) in enumerate(zip(c.METRICS, self._exported, strict=True))
        ]
        # Two objects for one series would each write their own count into the file.
        self._metrics_lock = threading.Lock()
        self._worker_threads: int | None = None
        # (slot, label values) -> the labelled child (None: a family not exported).
        self._children: dict[tuple[int, m.Labels], Any] = {}
        # A request key -> the methods of its own series (None: not exported, or not yet made).
        self._keys: dict[m.Key, list[Callable[[float], None] | None]] = {}

    # -- Sink: finished records -------------------------------------------------------

    def request_finished(self, record: RequestRecord) -> None:
        key, values, extras = m.measure_request(record, self._worker_threads)
        positions = self._positions
        series = self._keys.get(key)
        if series is None:
            series = self._keys[key] = [
                None if index in m.REQUEST_LAZY else self._adder(slot, m.series_labels(key, index, positions))
                for index, slot in enumerate(m.REQUEST_SERIES)
            ]
        for index, value in enumerate(values):
            if value is not None:
                add = series[index]
                if add is None and index in m.REQUEST_LAZY:
                    labels = m.series_labels(key, index, positions)
                    add = series[index] = self._adder(m.REQUEST_SERIES[index], labels)
                if add is not None:
                    add(value)
        if extras is not None:
            self._apply(extras)

    def session_finished(self, record: WebSocketRecord) -> None:
        self._apply(m.measure_session(record))
        if record.accepted_at is not None:
            self._apply(m.session_open(record, -1))

    def loop_lag(self, seconds: float) -> None:
        self._apply(m.measure_lag(seconds))

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        self._apply(m.measure_block(route, duration))

    # -- Sink: events -----------------------------------------------------------------

    def request_started(self, record: RequestRecord) -> None:
        self._apply(m.arrival(record))

    def request_left(self, record: RequestRecord) -> None:
        self._apply(m.arrival(record, -1))

    def session_accepted(self, record: WebSocketRecord) -> None:
        self._apply(m.session_open(record))

    def internal_error(self) -> None:
        self._apply(m.internal_error())

    def note_server(self, interface: str, server: str) -> None:
        self._apply(m.server_noted(interface, server), levels=True)

    def worker_threads_known(self, threads: int) -> None:
        self._worker_threads = threads
        self._apply(m.worker_threads_noted(threads), levels=True)

    # -- the metrics ------------------------------------------------------------------

    def _apply(self, measured: list[m.Extra], *, levels: bool = False) -> None:
        project = self.histograms.project
        for slot, labels, value in measured:
            child = self._child(slot, project(slot, labels))
            if child is None or value is None:
                continue
            kind = c.METRICS[slot].kind
            if kind == "histogram":
                child.observe(value)
            elif levels or kind == "info":
                child.set(value)
            else:
                child.inc(value)

    def _adder(self, slot: int, labels: m.Labels) -> Callable[[float], None] | None:
        """The method that adds a value to a request's own series (observe, inc)."""
        child = self._child(slot, labels)
        if child is None:
            return None
        return child.observe if c.METRICS[slot].kind == "histogram" else child.inc  # type: ignore[no-any-return]

    def _child(self, slot: int, labels: m.Labels) -> Any:
        """The series ``labels`` of family ``slot``, made on first use; None for a family not
        exported."""
        key = (slot, labels)
        children = self._children
        if key in children:
            return children[key]
        metric = self._metric(slot)
        child = children[key] = None if metric is None else metric.labels(*labels) if labels else metric
        return child

    def _metric(self, slot: int) -> Any:
        metric = self._metrics[slot]
        if metric is None and self._exported[slot]:
            with self._metrics_lock:
                metric = self._metrics[slot]
                if metric is None:
                    metric = self._metrics[slot] = _new_metric(slot, self.histograms)
        return metric


# Info metrics do not merge across processes; a 0/1 gauge taking the max does.
_WRAPPERS: dict[str, Any] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram, "info": Gauge}


def _new_metric(slot: int, histograms: HistogramChoice) -> Any:
    """prometheus-client's metric object of catalogue slot ``slot``, not registered anywhere."""
    spec = c.METRICS[slot]
    options: dict[str, Any] = {}
    if spec.kind == "histogram":
        options["buckets"] = histograms.bounds(spec.key)
    if spec.multiprocess_mode is not None:
        options["multiprocess_mode"] = spec.multiprocess_mode
    return _WRAPPERS[spec.kind](spec.name, spec.help, histograms.label_names[slot], registry=None, **options)


def _share_label_caps(monitor: Monitor, sink: MultiprocessSink) -> None:
    """Bound the label values of the whole server, not of each worker
    (gatewatch.export.prometheus.shared_labels)."""
    directory = multiprocess_directory()
    monitor.routes.share(shared_admission(directory, "routes", limit=monitor.max_routes))
    monitor.exception_types.share(shared_admission(directory, "exceptions", limit=MAX_EXCEPTION_TYPES))
    monitor.close_codes.share(shared_admission(directory, "close_codes", limit=m.MAX_CLOSE_CODES))


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
