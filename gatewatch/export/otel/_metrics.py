"""The catalogue's metrics as OpenTelemetry instruments, fed the measurements of
:mod:`gatewatch._measure` (never a record itself).

A request's own histograms are added up by gatewatch in batches and handed to the SDK's readers
when they collect (:mod:`gatewatch.export.otel._histograms`, :mod:`~gatewatch.export.otel.
_collection`), under an SDK ``MeterProvider`` that allows it; under any other provider they are
recorded per request through the SDK's instruments, as are the rarer histograms (offload,
WebSocket sessions, loop lag). Counters are added up here (a few additions under a lock) and,
with the monitor's levels (:func:`~gatewatch._measure.measure_state`), read by observable
instruments when a reader collects. A spec with OpenTelemetry buckets (the HTTP conventions'
``http.server.*`` histograms) has the conventions' attributes.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from gatewatch import _measure as m
from gatewatch import catalogue as c
from gatewatch._histogram import HistogramChoice
from gatewatch.export.otel import _collection, _histograms
from gatewatch.export.otel.attributes import http_metric_attributes
from gatewatch.monitor import Monitor
from gatewatch.version import VERSION

# Each catalogue label's OpenTelemetry attribute (the conventions' where they have one).
ATTRIBUTES: Final = {
    "interface": "gatewatch.interface",
    "method": "http.request.method",
    "route": "http.route",
    "status": "http.response.status_code",
    "exception": "error.type",
    "outcome": "gatewatch.websocket.outcome",
    "direction": "gatewatch.websocket.direction",
    "kind": "gatewatch.websocket.kind",
    "code": "gatewatch.websocket.close_code",
    "initiator": "gatewatch.websocket.close_initiator",
    "view": "gatewatch.view",
    "view_kind": "gatewatch.view_kind",
    "version": "gatewatch.version",
    "server": "gatewatch.server",
}
# Attribute sets kept ready per label combination; past this many, built per measurement.
_MAX_CACHED = 4096
# Loop-lag samples kept for the nodejs.eventloop.delay-shaped gauges (about a minute at 0.1 s).
LAG_SAMPLES = 600
LAG_STATS = ("min", "max", "mean", "p50", "p90", "p99")
SCOPE_NAME = "gatewatch"
# A context without a span: the SDK's trace-based exemplar filter then offers nothing.
NO_EXEMPLAR = otel_context.Context()
# The observable instrument of a spec recorded from totals or levels, by kind.
_OBSERVABLE = {"counter": "counter", "gauge": "updown", "info": "gauge"}
# A request's own series that are counters (the per-route totals): added up here, observed.
_REQUEST_COUNTERS: Final = frozenset(
    slot
    for slot in m.REQUEST_SERIES
    if c.METRICS[slot].kind == "counter" and not c.METRICS[slot].otel_buckets
)


class OtelMetrics:
    """Every catalogue metric a process exports to OpenTelemetry, by catalogue slot."""

    def __init__(
        self,
        meter: Meter,
        monitor: Monitor,
        histograms: HistogramChoice,
        duration_buckets: tuple[float, ...] | None = None,
        meter_provider: Any = None,
    ) -> None:
        self.monitor = monitor
        self.meter_provider = meter_provider
        self.label_names = histograms.label_names
        self._project = histograms.project
        self._positions = m.request_positions(self.label_names)
        self._lock = threading.Lock()
        # Per slot: a histogram instrument, or None (recorded as totals, or not exported).
        self.histograms: list[Any] = [None] * len(c.METRICS)
        self._bounds: list[tuple[float, ...] | None] = [None] * len(c.METRICS)
        # Per slot: label values -> total (counters) or 1 (info metrics), for observables.
        self._totals: list[dict[m.Labels, float]] = [{} for _ in c.METRICS]
        self._attributes: dict[tuple[int, m.Labels], dict[str, Any]] = {}
        self._key_attributes: dict[m.Key, tuple[dict[str, Any] | None, ...]] = {}
        self.names: set[str] = set()
        self.lag: deque[float] = deque(maxlen=LAG_SAMPLES)
        create = {
            "counter": meter.create_observable_counter,
            "updown": meter.create_observable_up_down_counter,
            "gauge": meter.create_observable_gauge,
        }
        for slot, spec in enumerate(c.METRICS):
            if spec.kind == "histogram" or spec.otel_buckets:
                chosen = histograms.bounds(spec.key) if spec.kind == "histogram" else spec.otel_buckets
                if chosen is None:
                    continue
                if spec.otel_buckets:
                    # The conventions' advice, unless buckets were chosen for this family.
                    chosen = (duration_buckets if slot == m.EXEMPLAR else None) or spec.otel_buckets
                self._bounds[slot] = tuple(chosen)
                self.histograms[slot] = meter.create_histogram(
                    spec.otel_name,
                    unit=spec.otel_unit,
                    description=spec.help,
                    explicit_bucket_boundaries_advisory=list(chosen),
                )
            else:
                create[_OBSERVABLE[spec.kind]](
                    spec.otel_name,
                    callbacks=[self._observe(slot)],
                    unit=spec.otel_unit,
                    description=spec.help,
                )
            self.names.add(spec.otel_name)
        lag = c.METRICS[m.LAG_SUMMARY]
        for stat in LAG_STATS:
            meter.create_observable_gauge(
                f"{lag.otel_name}.{stat}",
                callbacks=[self._lag_callback(stat)],
                unit=lag.otel_unit,
                description=f"Event-loop lag over the last {LAG_SAMPLES} samples: {stat} (Node.js' shape).",
            )

        # gatewatch's own request histograms (None: recorded per request, see resolve).
        self.own: _histograms.OwnHistograms | None = None
        # Why not, once known; None while a global provider is still to be set.
        self.per_request: str | None = None
        self.resolve()

    def resolve(self) -> _histograms.OwnHistograms | None:
        """Decide how a request's histograms are recorded, once the meter provider is known: by
        gatewatch, read when the SDK's readers collect, where :func:`~gatewatch.export.otel.
        _collection.unsupported` allows it; per request otherwise."""
        provider = self.meter_provider if self.meter_provider is not None else metrics.get_meter_provider()
        if isinstance(provider, _ProxyMeterProvider):
            real = provider._real_meter_provider
            if real is None:
                return None
            provider = real
        self.per_request = _collection.unsupported(provider)
        if self.per_request is not None or not isinstance(provider, MeterProvider):
            return None
        own = _histograms.OwnHistograms(
            self._kinds(),
            frozenset(i for i, slot in enumerate(m.REQUEST_SERIES) if slot in _REQUEST_COUNTERS),
            self._positions,
            threads=lambda: self.monitor.worker_threads,
            counted=self._add,
            extras=self.record,
            attributes=self._series_attributes,
            describe=self._describe,
            report=self.monitor.report_internal_error,
        )
        own.exemplars = _collection.exemplars(provider)
        _collection.install(provider, InstrumentationScope(SCOPE_NAME, VERSION), own)
        self.own = own
        return own

    def _kinds(self) -> tuple[_histograms.Kind, ...]:
        kinds: list[_histograms.Kind] = []
        for slot in m.REQUEST_SERIES:
            bounds = self._bounds[slot]
            exported = self.histograms[slot] is not None and bounds is not None
            kinds.append((bounds, bool(c.METRICS[slot].otel_buckets)) if exported else None)  # type: ignore[arg-type]
        return tuple(kinds)

    def _series_attributes(self, series_key: _histograms.SeriesKey) -> dict[str, Any]:
        slot, labels = series_key
        if c.METRICS[slot].otel_buckets:
            return http_metric_attributes(*labels)  # type: ignore[misc]
        return self._attributes_of(slot, labels)  # type: ignore[arg-type]

    def _describe(self, slot: int) -> tuple[str, str, str]:
        spec = c.METRICS[slot]
        return spec.otel_name, spec.help, spec.otel_unit

    def record_request(
        self, measured: m.RequestMeasurements, http_attributes: dict[str, Any], context: otel_context.Context
    ) -> None:
        """A request's measurements; its trace (``context``) rides on the exemplar series only, as
        the SDK's exemplar: offering one to every instrument costs several µs each."""
        key, values, extras = measured
        attributes = self._key_attributes.get(key)
        if attributes is None:
            attributes = tuple(
                None
                if c.METRICS[slot].otel_buckets
                else self._attributes_of(slot, tuple(key[p] for p in positions))
                for slot, positions in zip(m.REQUEST_SERIES, self._positions, strict=True)
            )
            if len(self._key_attributes) < _MAX_CACHED:
                self._key_attributes[key] = attributes
        histograms = self.histograms
        counted: list[m.Extra] | None = None
        for index, (slot, labels_attributes, value) in enumerate(
            zip(m.REQUEST_SERIES, attributes, values, strict=True)
        ):
            if value is None:
                continue
            instrument = histograms[slot]
            if instrument is None:
                if slot in _REQUEST_COUNTERS:
                    counted = counted or []
                    counted.append((slot, m.series_labels(key, index, self._positions), value))
                continue
            instrument.record(
                value,
                http_attributes if labels_attributes is None else labels_attributes,
                context if slot == m.EXEMPLAR else NO_EXEMPLAR,
            )
        if counted is not None:
            self._add(counted)
        if extras is not None:
            self.record(extras)

    def _add(self, counted: list[m.Extra]) -> None:
        totals = self._totals
        with self._lock:
            for slot, labels, value in counted:
                totals[slot][labels] = totals[slot].get(labels, 0) + (value or 0)

    def record(self, measured: list[m.Extra]) -> None:
        """Measurements other than a request's own series."""
        for slot, measured_labels, value in measured:
            if slot == m.LAG_SUMMARY and value is not None:
                self.lag.append(value)
            spec = c.METRICS[slot]
            labels = self._project(slot, measured_labels)
            if spec.kind == "histogram" or spec.otel_buckets:
                instrument = self.histograms[slot]
                if instrument is not None and value is not None:
                    instrument.record(value, self._attributes_of(slot, labels), NO_EXEMPLAR)
                continue
            totals = self._totals[slot]
            with self._lock:
                if spec.kind == "info":
                    totals[labels] = 1
                else:
                    totals[labels] = totals.get(labels, 0) + (value or 0)

    def _attributes_of(self, slot: int, labels: m.Labels) -> dict[str, Any]:
        key = (slot, labels)
        attributes = self._attributes.get(key)
        if attributes is None:
            names = (ATTRIBUTES[label] for label in self.label_names[slot])
            attributes = dict(zip(names, labels, strict=True))
            if len(self._attributes) < _MAX_CACHED:
                self._attributes[key] = attributes
        return attributes

    def _observe(self, slot: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                items = list(self._totals[slot].items())
            items += [
                (labels, value or 0) for at, labels, value in m.measure_state(self.monitor) if at == slot
            ]
            names = [ATTRIBUTES[label] for label in self.label_names[slot]]
            return [Observation(value, dict(zip(names, labels, strict=True))) for labels, value in items]

        return callback

    def _lag_callback(self, stat: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            samples = sorted(self.lag)
            if not samples:
                return []
            if stat == "min":
                value = samples[0]
            elif stat == "max":
                value = samples[-1]
            elif stat == "mean":
                value = sum(samples) / len(samples)
            else:
                value = samples[min(len(samples) - 1, int(len(samples) * int(stat[1:]) / 100))]
            return [Observation(value)]

        return callback
