"""A request's OpenTelemetry histograms added up by gatewatch, read when a reader collects.

The request path appends its record to a queue (one ``deque.append``, as for Prometheus:
:mod:`gatewatch._batches`); every :data:`~gatewatch._batches.PENDING_RECORDS` records, and
before each collection, the queue is measured (:func:`gatewatch._measure.measure_request`) and
added up a column at a time per attribute set: bucket counts, sum, count, min and max, as the
SDK's explicit-bucket aggregation keeps them, per reader (each reader has its own temporality
and its own collection times, as in the SDK). The duration histogram keeps, per bucket, the last
request that ran in a sampled span as its exemplar (the SDK's aligned-bucket reservoir under
its trace-based filter), until the reader's next collection.

:mod:`gatewatch.export.otel._collection` hands the points to the SDK's readers.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Hashable
from time import time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
)

from gatewatch import _measure as m
from gatewatch._batches import PENDING_RECORDS, take_all
from gatewatch.record import RequestRecord

if TYPE_CHECKING:
    from gatewatch.export.otel.sink import Traced

# (slot, the series' key: its labels, or the HTTP conventions' attribute key).
SeriesKey = tuple[int, Hashable]
# The HTTP conventions' attributes of a request: interface, method, route, status, scheme,
# protocol version, exception (gatewatch.export.otel.attributes.http_metric_attributes).
HttpKey = tuple[str, str, str | None, int, str | None, str | None, str]
# How a request's own series is exported as a histogram: its bounds, and whether it has the
# conventions' attributes (None: not a histogram here).
Kind = tuple[tuple[float, ...], bool] | None
# A request that ran in a sampled span: value, end (ns), span id, trace id.
Sampled = tuple[float, int, int, int]


class _Series:
    """One attribute set's running totals, as the SDK's explicit-bucket aggregation has them."""

    __slots__ = ("count", "counts", "high", "low", "start_ns", "total")

    def __init__(self, buckets: int, start_ns: int) -> None:
        self.counts = [0] * buckets
        self.total: float = 0
        self.count = 0
        self.low = float("inf")
        self.high = float("-inf")
        self.start_ns = start_ns

    def add(self, bounds: tuple[float, ...], column: tuple[float, ...]) -> None:
        counts = self.counts
        for index in map(bisect_left, [bounds] * len(column), column):
            counts[index] += 1
        # Added in order, from the running sum, as one record at a time would.
        self.total = sum(column, self.total)
        self.count += len(column)
        self.low = min(self.low, *column)
        self.high = max(self.high, *column)


class _Store:
    """A reader's totals: cumulative (never reset) or delta (taken at each collection)."""

    __slots__ = ("delta", "exemplars", "series", "since_ns")

    def __init__(self, delta: bool, since_ns: int) -> None:
        self.delta = delta
        self.since_ns = since_ns
        self.series: dict[SeriesKey, _Series] = {}
        # (the exemplar series' attribute key, a bucket) -> its last sampled request (value,
        # time, span id, trace id), until the next collection.
        self.exemplars: dict[tuple[HttpKey, int], Sampled] = {}


class OwnHistograms:
    """The request histograms of one :class:`~gatewatch.export.otel._metrics.OtelMetrics`.

    ``kinds`` (aligned with :data:`gatewatch._measure.REQUEST_SERIES`) says which series are
    histograms here, ``counters`` which are counters (by index); ``positions`` where a series'
    labels are in a request's key; ``counted`` adds up the counters' ``(slot, labels, total)``,
    ``extras`` records a request's other measurements,
    ``attributes`` gives a series' attributes, ``describe`` a slot's name, description and unit.
    """

    def __init__(
        self,
        kinds: tuple[Kind, ...],
        counters: frozenset[int],
        positions: m.Positions,
        *,
        threads: Callable[[], int | None],
        counted: Callable[[list[m.Extra]], None],
        extras: Callable[[list[m.Extra]], None],
        attributes: Callable[[SeriesKey], dict[str, Any]],
        describe: Callable[[int], tuple[str, str, str]],
        report: Callable[[str, Exception], None],
    ) -> None:
        self._kinds = kinds
        self._counters = counters
        self._positions = positions
        self._threads = threads
        self._counted = counted
        self._extras = extras
        self._attributes = attributes
        self._describe = describe
        self._report = report
        self._lock = threading.Lock()
        self._pending: deque[tuple[RequestRecord, Traced | None]] = deque()
        self._stores: dict[MetricReader, _Store] = {}
        self._exemplar_index = m.REQUEST_SERIES.index(m.EXEMPLAR)
        # Whether the provider's exemplar filter is the trace-based one (else always off).
        self.exemplars = True

    def add_reader(self, reader: MetricReader, delta: bool) -> None:
        """``reader`` collects from now on."""
        with self._lock:
            if reader not in self._stores:
                self._stores[reader] = _Store(delta, time_ns())

    def failed(self, exc: Exception) -> None:
        """A collection failed in gatewatch's part: counted and logged, never raised."""
        self._report("otel.collect", exc)

    def remove_reader(self, reader: MetricReader) -> None:
        with self._lock:
            self._stores.pop(reader, None)

    def add(self, record: RequestRecord, traced: Traced | None) -> None:
        """A finished request (its span, if it has one): on every request's path."""
        pending = self._pending
        pending.append((record, traced))
        if len(pending) >= PENDING_RECORDS:
            self.absorb()

    def absorb(self) -> None:
        """Add up the requests waiting."""
        with self._lock:
            taken = take_all(self._pending)
            if not taken:
                return
            groups: dict[tuple[m.Key, HttpKey], list[tuple[float | None, ...]]] = {}
            # The last sampled request of each bucket of the exemplar series.
            sampled: dict[tuple[HttpKey, int], Sampled] = {}
            exemplar_index = self._exemplar_index
            exemplar_kind = self._kinds[exemplar_index]
            exemplar_bounds = exemplar_kind[0] if exemplar_kind is not None and self.exemplars else None
            threads = self._threads()
            for record, traced in taken:
                try:
                    key, values, extras = m.measure_request(record, threads)
                    http: HttpKey = (
                        key[0],
                        key[1],
                        key[2] if record.route is not None else None,
                        0 if record.disconnected else (record.status or 500),
                        None if traced is None else traced.scheme,
                        None if traced is None else traced.version,
                        record.exception_label,
                    )
                    rows = groups.get((key, http))
                    if rows is None:
                        groups[key, http] = [values]
                    else:
                        rows.append(values)
                    if extras is not None:
                        self._extras(extras)
                    value = values[exemplar_index]
                    if exemplar_bounds is not None and traced is not None and value is not None:
                        context = traced.span.get_span_context()
                        if context.trace_flags.sampled:
                            end = traced.start_ns + int(value * 1e9)
                            bucket = bisect_left(exemplar_bounds, value)
                            sampled[http, bucket] = (value, end, context.span_id, context.trace_id)
                except Exception as exc:  # noqa: BLE001 - one bad record must not stop the others
                    self._report("otel.add", exc)
            self._add_groups(groups)
            if sampled:
                for store in self._stores.values():
                    store.exemplars.update(sampled)

    def _add_groups(self, groups: dict[tuple[m.Key, HttpKey], list[tuple[float | None, ...]]]) -> None:
        # Under the lock: each series' values a column at a time, the bucket search in C.
        stores = list(self._stores.values())
        counted: list[m.Extra] = []
        now = time_ns()
        for (key, http), rows in groups.items():
            for index, column in enumerate(zip(*rows)):  # noqa: B905
                kind = self._kinds[index]
                if kind is None and index not in self._counters:
                    continue
                if index in m.REQUEST_OPTIONAL and None in column:
                    column = tuple(v for v in column if v is not None)
                    if not column:
                        continue
                slot = m.REQUEST_SERIES[index]
                if kind is None:
                    counted.append((slot, tuple(key[p] for p in self._positions[index]), sum(column)))
                    continue
                bounds, conventions = kind
                series_key = (slot, http if conventions else tuple(key[p] for p in self._positions[index]))
                for store in stores:
                    series = store.series.get(series_key)
                    if series is None:
                        series = store.series[series_key] = _Series(len(bounds) + 1, now)
                    series.add(bounds, column)
        if counted:
            self._counted(counted)

    def produce(self, reader: MetricReader) -> list[Metric]:
        """The histograms' points for ``reader``'s collection now (after :meth:`absorb`)."""
        with self._lock:
            store = self._stores.get(reader)
            if store is None:
                return []
            now = time_ns()
            series, held = store.series, store.exemplars
            since = store.since_ns
            store.exemplars = {}
            if store.delta:
                store.series, store.since_ns = {}, now
            found: dict[Hashable, list[Exemplar]] = {}
            for (http, _bucket), (value, end, span_id, trace_id) in sorted(held.items(), key=_bucket_order):
                found.setdefault(http, []).append(Exemplar({}, value, end, span_id, trace_id))
            points: dict[int, list[HistogramDataPoint]] = {}
            for series_key, totals in series.items():
                slot = series_key[0]
                bounds = self._bounds(slot)
                points.setdefault(slot, []).append(
                    HistogramDataPoint(
                        attributes=self._attributes(series_key),
                        start_time_unix_nano=since if store.delta else totals.start_ns,
                        time_unix_nano=now,
                        count=totals.count,
                        sum=totals.total,
                        bucket_counts=tuple(totals.counts),
                        explicit_bounds=bounds,
                        min=totals.low,
                        max=totals.high,
                        exemplars=found.get(series_key[1], []) if slot == m.EXEMPLAR else [],
                    )
                )
        temporality = AggregationTemporality.DELTA if store.delta else AggregationTemporality.CUMULATIVE
        metrics: list[Metric] = []
        for slot in sorted(points):
            name, description, unit = self._describe(slot)
            metrics.append(Metric(name, description, unit, Histogram(points[slot], temporality)))
        return metrics

    def _bounds(self, slot: int) -> tuple[float, ...]:
        kind = self._kinds[m.REQUEST_SERIES.index(slot)]
        return () if kind is None else kind[0]


def _bucket_order(item: tuple[tuple[HttpKey, int], Sampled]) -> int:
    return item[0][1]
