"""The exemplars of the OpenMetrics exposition: the latest sampled trace in each bucket of the
exemplar family's series (:data:`gatewatch._measure.EXEMPLAR`).

A request that ran in a sampled span is noted with one append on its path, as the aggregator
queues its records; it is placed when the totals are next read, once its record has been
measured and added up (its series exists from then on).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque

from prometheus_client.samples import Exemplar

from gatewatch import _measure as m
from gatewatch._batches import take_all
from gatewatch.monitor import Monitor
from gatewatch.record import RequestRecord

# Exemplars waiting for a read of the totals: past this many, the aggregator places them at once.
MAX_PENDING = 1024


class ExemplarMarks:
    """Per series of the exemplar family: one exemplar slot per bucket (None: none yet)."""

    def __init__(self, bounds: tuple[float, ...], positions: m.Positions) -> None:
        self.bounds = bounds
        self.by_labels: dict[m.Labels, list[Exemplar | None]] = {}
        self._positions = positions
        self._index = m.REQUEST_SERIES.index(m.EXEMPLAR)
        # Sampled requests not yet placed: (record, trace id, span id, wall time).
        self._pending: deque[tuple[RequestRecord, str, str, float]] = deque()

    def note(self, record: RequestRecord, trace_id: str, span_id: str, at: float) -> bool:
        """Queue ``record``'s trace; True when enough wait that they should be placed now."""
        pending = self._pending
        pending.append((record, trace_id, span_id, at))
        return len(pending) >= MAX_PENDING

    def place(self, series: dict[m.Labels, list[float]], monitor: Monitor) -> None:
        """Under the aggregator's lock, after every pending record was added up: each waiting
        trace into its bucket (the latest wins); one whose series is not exported is dropped."""
        bounds, index, threads = self.bounds, self._index, monitor.worker_threads
        for record, trace_id, span_id, at in take_all(self._pending):
            try:
                key, values, _ = m.measure_request(record, threads)
                value = values[index]
                labels = m.series_labels(key, index, self._positions)
                if value is None or labels not in series:
                    continue
                slots = self.by_labels.get(labels)
                if slots is None:
                    slots = self.by_labels[labels] = [None] * (len(bounds) + 1)
                marks = {"trace_id": trace_id, "span_id": span_id}
                slots[bisect_left(bounds, value)] = Exemplar(marks, value, at)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop a scrape
                monitor.report_internal_error("prometheus.exemplar", exc)
