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
from collections.abc import Iterator
from functools import partial
from itertools import islice
from operator import is_not
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

from gatewatch import _measure as m
from gatewatch import catalogue as c
from gatewatch._batches import PENDING_RECORDS, take_all
from gatewatch._compile_hints import mypyc_attr
from gatewatch._histogram import (
    DEFAULT_CHOICE,
    HistogramChoice,
    add_values,
    cumulative_buckets,
    histogram_choice,
    new_series,
)
from gatewatch.export.prometheus._exemplars import ExemplarMarks
from gatewatch.export.prometheus._own_families import claim
from gatewatch.monitor import Monitor, Sink
from gatewatch.options import Options
from gatewatch.record import RequestRecord, WebSocketRecord

__all__ = [
    "DEFAULT_CHOICE",
    "HistogramChoice",
    "PrometheusAggregator",
    "histogram_choice",
    "registry_aggregator",
]


# A Python class in the compiled build too (its methods compiled): a Sink, and weakly
# referenced (the runtime's and the scrape's tables are keyed by it).
@mypyc_attr(native_class=False)
class PrometheusAggregator(Collector, Sink):
    """A :class:`~gatewatch.monitor.Sink` and a prometheus-client collector in one.

    It adds up the measurements of :mod:`gatewatch._measure` (never a record itself): per
    catalogue slot, label values -> running totals (:func:`~gatewatch._histogram.new_series`).
    """

    def __init__(self, monitor: Monitor, histograms: HistogramChoice = DEFAULT_CHOICE) -> None:
        self.monitor = monitor
        self.histograms = histograms
        # Per slot: the bounds its values are counted into (() for a count), None when the
        # family is not exported (its measurements cost one check, and nothing at scrape time).
        self._bounds = tuple(
            histograms.bounds(spec.key) if spec.kind == "histogram" else () for spec in c.METRICS
        )
        self._request_bounds = tuple(self._bounds[slot] for slot in m.REQUEST_SERIES)
        self._positions = m.request_positions(histograms.label_names)
        # The slot of every family this aggregator exports, in catalogue order.
        self._slots = tuple(slot for slot, bounds in enumerate(self._bounds) if bounds is not None)
        self._lock = threading.Lock()
        # Finished records not yet measured (see request_finished).
        self._pending: deque[RequestRecord] = deque()
        # A request key -> its measured values not yet added up, and how many there are in all.
        self._rows: dict[m.Key, list[tuple[float | None, ...]]] = {}
        self._buffered = 0
        # Per slot: label values -> running totals.
        self._series: tuple[dict[m.Labels, list[float]], ...] = tuple({} for _ in c.METRICS)
        # A request key -> the totals of its own series (None: not exported, or not yet made).
        self._keys: dict[m.Key, list[list[float] | None]] = {}
        # The exemplar series' labels -> the last exemplar (a sampled span's trace) of each bucket.
        exemplar_bounds = self._bounds[m.EXEMPLAR]
        self._marks = None if exemplar_bounds is None else ExemplarMarks(exemplar_bounds, self._positions)
        self._exemplars = {} if self._marks is None else self._marks.by_labels

    # -- Sink -------------------------------------------------------------------------

    def loop_lag(self, seconds: float) -> None:
        with self._lock:
            self._apply(m.measure_lag(seconds))

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        with self._lock:
            self._apply(m.measure_block(route, duration))

    def session_finished(self, record: WebSocketRecord) -> None:
        with self._lock:
            self._apply(m.measure_session(record))

    def worker_threads_known(self, threads: int) -> None:
        with self._lock:
            self._apply(m.capacity_known())

    def request_finished(self, record: RequestRecord) -> None:
        # One append (atomic, no lock) on every request's path: records are measured and added
        # up in batches, every PENDING_RECORDS of them or when a scrape (or an exemplar) reads
        # the totals, whichever comes first.
        pending = self._pending
        pending.append(record)
        if len(pending) >= PENDING_RECORDS:
            self._absorb()

    def _absorb(self, *, everything: bool = False) -> None:
        """Measure the pending records, and add up every key's values once it has a column's
        worth (or ``everything``: before the totals are read)."""
        with self._lock:
            threads = self.monitor.worker_threads
            rows = self._rows
            column = COLUMN
            taken = take_all(self._pending)
            for record in taken:
                try:
                    # Called by its module's name: compiled, a direct call (no argument parsing).
                    key, values, extras = m.measure_request(record, threads)
                    same = rows.get(key)
                    if same is None:
                        rows[key] = [values]
                    else:
                        same.append(values)
                        if len(same) >= column:
                            del rows[key]
                            self._add_rows(key, same)
                    if extras is not None:
                        self._apply(extras)
                except Exception as exc:  # noqa: BLE001 - one bad record must not stop a scrape
                    self.monitor.report_internal_error("prometheus.add", exc)
            self._buffered += len(taken)
            if everything or self._buffered >= MAX_BUFFERED:
                for key, same in rows.items():
                    self._add_rows(key, same)
                rows.clear()
                self._buffered = 0
                if self._marks is not None:
                    self._marks.place(self._series[m.EXEMPLAR], self.monitor)

    def _add_rows(self, key: m.Key, rows: list[tuple[float | None, ...]]) -> None:
        # Under the lock: a key's values are added up a column (one series) at a time, the
        # bucket search and the sum in C, so that the Python work is per column, not per value.
        series = self._keys.get(key)
        if series is None:
            series = self._keys[key] = self._new_key(key)
        request_bounds = self._request_bounds
        for index, column in enumerate(zip(*rows)):  # noqa: B905
            bounds = request_bounds[index]
            if bounds is None:
                continue
            if index in m.REQUEST_OPTIONAL and None in column:
                column = tuple(filter(_measured, column))
            totals = series[index]
            if totals is None:
                if not column:
                    continue
                labels = m.series_labels(key, index, self._positions)
                totals = series[index] = self._totals(m.REQUEST_SERIES[index], labels)
            add_values(totals, bounds, column)  # type: ignore[arg-type]

    def _new_key(self, key: m.Key) -> list[list[float] | None]:
        # Under the lock: a request key's own series exist from its first request on (but the
        # lazy ones, from their first value).
        positions = self._positions
        return [
            None if index in m.REQUEST_LAZY else self._totals(slot, m.series_labels(key, index, positions))
            for index, slot in enumerate(m.REQUEST_SERIES)
        ]

    def _totals(self, slot: int, labels: m.Labels) -> list[float] | None:
        bounds = self._bounds[slot]
        if bounds is None:
            return None
        table = self._series[slot]
        totals = table.get(labels)
        if totals is None:
            totals = table[labels] = new_series(bounds)
        return totals

    def _apply(self, extras: list[m.Extra]) -> None:
        # Under the lock.
        project = self.histograms.project
        for slot, labels, value in extras:
            totals = self._totals(slot, project(slot, labels))
            if totals is not None and value is not None:
                totals[bisect_left(self._bounds[slot] or (), value)] += 1
                totals[-1] += value

    def note_exemplar(self, record: RequestRecord, trace_id: str, span_id: str) -> None:
        """The request just recorded ran in a sampled span: the bucket of its exemplar series
        carries that trace (the latest one wins), shown in the OpenMetrics exposition."""
        marks = self._marks
        if marks is not None and marks.note(record, trace_id, span_id, time()):
            self._absorb(everything=True)

    # -- Scrape (read by gatewatch.export.prometheus._render) ----------------------------

    @property
    def slots(self) -> tuple[int, ...]:
        """The slots of the families this aggregator exports, in catalogue order."""
        return self._slots

    def label_names(self, slot: int) -> tuple[str, ...]:
        """The label names of family ``slot``'s series, in the order of their label values (the
        series preset decides some)."""
        return self.histograms.label_names[slot]

    def bounds(self, slot: int) -> tuple[float, ...]:
        """The bucket bounds of an exported family ``slot`` (() for a count)."""
        return self._bounds[slot] or ()

    def begin_scrape(self) -> Iterator[None]:
        """Add up every record measured so far, before the totals are read: a step at a time
        (each adds up at most ``keys`` request keys' values under the lock), for a caller that
        lets other work run between two steps."""
        self._absorb()
        with self._lock:
            waiting = len(self._rows)
        for _ in range(0, waiting, SCRAPE_KEYS):
            with self._lock:
                rows = self._rows
                for key in list(islice(rows, SCRAPE_KEYS)):
                    same = rows.pop(key)
                    self._buffered = max(self._buffered - len(same), 0)
                    self._add_rows(key, same)
            yield
        if self._marks is not None:
            with self._lock:
                self._marks.place(self._series[m.EXEMPLAR], self.monitor)

    def series(self, slot: int) -> tuple[list[m.Labels], list[list[float]]]:
        """Family ``slot``'s series now: their label values and live totals, in two lists (a
        pair per series would be as many objects for the garbage collector to count); the
        totals are to be copied with :meth:`copy_totals` before reading."""
        with self._lock:
            table = self._series[slot]
            return list(table), list(table.values())

    def copy_totals(
        self, slot: int, labels: list[m.Labels], totals: list[list[float]], exemplars: bool
    ) -> tuple[list[list[float]], list[list[Exemplar | None] | None] | None]:
        """Copies of ``totals``, each whole (a series' buckets, sum and count agree), and of the
        series' exemplars when asked (the exemplar family's only)."""
        with self._lock:
            copies = list(map(list.copy, totals))
            if not exemplars or slot != m.EXEMPLAR or not self._exemplars:
                return copies, None
            found = self._exemplars.get
            return copies, [None if e is None else e.copy() for e in map(found, labels)]

    def state(self) -> list[m.Extra]:
        """The monitor's levels (in flight, servers, workers...) as series of their slots."""
        return m.measure_state(self.monitor)

    # -- Collector --------------------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        # Names only, so a registry can refuse a clash without running a scrape.
        yield from _families(self._slots, self.histograms).values()

    def collect(self) -> Iterator[Metric]:
        if claim(self):
            # gatewatch's /metrics renders these families itself, from the tables.
            return
        f = _families(self._slots, self.histograms)
        self._absorb(everything=True)
        with self._lock:
            for slot, table in enumerate(self._series):
                family = f.get(slot)
                bounds = self._bounds[slot]
                if family is None or bounds is None:
                    continue
                kind = c.METRICS[slot].kind
                for labels, totals in table.items():
                    if kind == "histogram":
                        _add_histogram(family, labels, bounds, totals, self._exemplars.get(labels))
                    else:
                        family.add_metric(labels, {} if kind == "info" else totals[-1])
        for slot, labels, value in m.measure_state(self.monitor):
            family = f[slot]
            family.add_metric(labels, {} if c.METRICS[slot].kind == "info" else value)
        yield from (family for slot, family in f.items() if family.samples or not c.METRICS[slot].sparse)


_measured = partial(is_not, None)
# A key's values are added up once it has this many (or before the totals are read), and all
# of them once this many are waiting: a bound on the memory they hold.
COLUMN = 64
MAX_BUFFERED = 4096
# A scrape adds up this many keys' waiting values per step (about a millisecond).
SCRAPE_KEYS = 32

_FAMILY_TYPES: dict[str, Any] = {
    "counter": CounterMetricFamily,
    "gauge": GaugeMetricFamily,
    "histogram": HistogramMetricFamily,
    "info": InfoMetricFamily,
}


def _families(slots: tuple[int, ...], histograms: HistogramChoice) -> dict[int, Any]:
    """Fresh, empty metric families of the specs at ``slots``, by catalogue slot."""
    specs, names = c.METRICS, histograms.label_names
    return {
        slot: _FAMILY_TYPES[specs[slot].kind](specs[slot].family, specs[slot].help, labels=names[slot])
        for slot in slots
    }


def _add_histogram(
    family: HistogramMetricFamily,
    labels: m.Labels,
    bounds: tuple[float, ...],
    totals: list[float],
    exemplars: list[Exemplar | None] | None,
) -> None:
    buckets: list[Any] = cumulative_buckets(bounds, totals)
    if exemplars is not None:
        buckets = [
            bucket if exemplar is None else (*bucket, exemplar)
            for bucket, exemplar in zip(buckets, exemplars, strict=True)
        ]
    family.add_metric(list(labels), buckets, totals[-1])


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
