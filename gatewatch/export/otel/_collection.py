"""gatewatch's own histograms handed to the OpenTelemetry SDK's readers when they collect.

The SDK records a histogram one measurement at a time (``Histogram.record``: a measurement
object, the exemplar filter, a lock and a bucket search per reader), about 10 µs each; a
request feeds half a dozen. gatewatch adds its requests up in batches instead
(:mod:`gatewatch.export.otel._histograms`) and gives the SDK the finished data points when a
reader collects: each reader's collect callback (what ``MeterProvider`` hands every reader,
``add_metric_reader`` included) is wrapped so that the points are added, under gatewatch's
instrumentation scope, to what the SDK collected. The Python SDK has no metric producer
interface (the specification's ``MetricProducer``) to do this through, so this reaches into
``MeterProvider._measurement_consumer`` and ``MetricReader._set_collect_callback``.

Only where that gives exactly what the SDK would (:func:`unsupported` says why not otherwise):
an SDK ``MeterProvider`` without views, readers whose histogram aggregation is the default
(explicit buckets, from the instruments' advice), and the default trace-based or the always-off
exemplar filter. Anything else keeps the per-request ``Histogram.record``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    Metric,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.view import DefaultAggregation
from opentelemetry.sdk.util.instrumentation import InstrumentationScope


class Target(Protocol):
    """What gives the readers metrics of its own (gatewatch.export.otel._histograms)."""

    def add_reader(self, reader: MetricReader, delta: bool) -> None: ...

    def remove_reader(self, reader: MetricReader) -> None: ...

    def absorb(self) -> None: ...

    def produce(self, reader: MetricReader) -> list[Metric]: ...

    def failed(self, exc: Exception) -> None: ...


def unsupported(provider: object) -> str | None:
    """Why ``provider``'s readers cannot be handed gatewatch's histograms (None: they can)."""
    if not isinstance(provider, MeterProvider):
        return f"not the SDK's MeterProvider ({type(provider).__qualname__})"
    config = getattr(provider, "_sdk_config", None)
    consumer = getattr(provider, "_measurement_consumer", None)
    if config is None or consumer is None or not callable(getattr(consumer, "collect", None)):
        return "an SDK of another shape"
    if config.views:
        return "views (they may rename, filter or re-aggregate the histograms)"
    if not isinstance(config.exemplar_filter, TraceBasedExemplarFilter | AlwaysOffExemplarFilter):
        return f"exemplar filter {type(config.exemplar_filter).__qualname__}"
    for reader in getattr(provider, "_metric_readers", ()):
        if not isinstance(_aggregation(reader), DefaultAggregation):
            return f"reader {type(reader).__qualname__} asks for another histogram aggregation"
    return None


def _histogram_choice(reader: MetricReader, table: str, default: object) -> object:
    # A reader keeps its choices by the SDK's own instrument classes (a Histogram subclass).
    for kind, chosen in getattr(reader, table, {}).items():
        if isinstance(kind, type) and issubclass(kind, SdkHistogram):
            return chosen
    return default


def _aggregation(reader: MetricReader) -> object:
    return _histogram_choice(reader, "_instrument_class_aggregation", DefaultAggregation())


def delta(reader: MetricReader) -> bool:
    """Whether ``reader`` wants histograms as deltas (cumulative otherwise, the default)."""
    temporality = _histogram_choice(reader, "_instrument_class_temporality", None)
    return bool(temporality == AggregationTemporality.DELTA)


def install(provider: MeterProvider, scope: InstrumentationScope, target: Target) -> None:
    """Wrap the collect callback of ``provider``'s readers (and of those added later) so that
    each collection also carries what ``target`` produces for that reader; it absorbs what
    waits first (the counters its batches feed are read by the SDK's observable instruments),
    and it is told of every reader, from now on, as it comes and goes."""
    consumer: Any = provider._measurement_consumer
    collect = consumer.collect
    resource = provider._sdk_config.resource

    def collecting(reader: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
        try:
            target.absorb()
        except Exception as exc:  # noqa: BLE001 - the SDK's own metrics are still collected
            target.failed(exc)
        data: MetricsData | None = collect(reader, timeout_millis=timeout_millis)
        try:
            metrics = target.produce(reader)
            return merged(data, metrics, scope, resource) if metrics else data
        except Exception as exc:  # noqa: BLE001 - nor may gatewatch's points lose the SDK's
            target.failed(exc)
            return data

    added, removed = consumer.add_metric_reader, consumer.remove_metric_reader

    def adding(reader: MetricReader) -> None:
        added(reader)
        target.add_reader(reader, delta(reader))

    def removing(reader: MetricReader) -> None:
        removed(reader)
        target.remove_reader(reader)

    # MeterProvider.add_metric_reader hands a new reader consumer.collect: this one from now on.
    consumer.collect = collecting
    consumer.add_metric_reader, consumer.remove_metric_reader = adding, removing
    for reader in getattr(provider, "_metric_readers", ()):
        target.add_reader(reader, delta(reader))
        reader._set_collect_callback(collecting)


def exemplars(provider: MeterProvider) -> bool:
    """Whether ``provider``'s exemplar filter offers a sampled span's measurements."""
    return isinstance(provider._sdk_config.exemplar_filter, TraceBasedExemplarFilter)


def merged(
    data: MetricsData | None, metrics: Sequence[Metric], scope: InstrumentationScope, resource: Any
) -> MetricsData:
    """``data`` with ``metrics`` added under ``scope``: into a metric of the same name (its
    points added) or a scope already there, else as a scope of their own."""
    if data is None or not data.resource_metrics:
        return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, list(metrics), "")], "")])
    first, *others = data.resource_metrics
    scopes = list(first.scope_metrics)
    for index, scope_metrics in enumerate(scopes):
        if scope_metrics.scope.name == scope.name and scope_metrics.scope.version == scope.version:
            scopes[index] = ScopeMetrics(
                scope_metrics.scope, _joined(scope_metrics.metrics, metrics), scope_metrics.schema_url
            )
            break
    else:
        scopes.append(ScopeMetrics(scope, list(metrics), ""))
    return MetricsData([ResourceMetrics(first.resource, scopes, first.schema_url), *others])


def _joined(present: Sequence[Metric], added: Sequence[Metric]) -> list[Metric]:
    joined = list(present)
    names = {metric.name: index for index, metric in enumerate(joined)}
    for metric in added:
        index = names.get(metric.name)
        same = joined[index] if index is not None else None
        if same is not None and isinstance(same.data, Histogram) and isinstance(metric.data, Histogram):
            data = Histogram(
                [*same.data.data_points, *metric.data.data_points], same.data.aggregation_temporality
            )
            joined[index] = Metric(same.name, same.description, same.unit, data)  # type: ignore[index]
        else:
            names[metric.name] = len(joined)
            joined.append(metric)
    return joined
