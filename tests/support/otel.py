"""In-memory OpenTelemetry providers for the tests, and readers for what they hold."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Otel:
    tracer_provider: TracerProvider
    spans_exporter: InMemorySpanExporter
    meter_provider: MeterProvider
    reader: InMemoryMetricReader

    @property
    def options(self) -> dict[str, Any]:
        """The middleware keywords that export here."""
        return {"otel": True, "tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def server_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.kind.name == "SERVER"]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) of every point of metric ``name``."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found

    def scoped_points(self, name: str) -> list[tuple[str, dict[str, Any], Any]]:
        """(instrumentation scope, attributes, data point) of every point of metric ``name``."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            (scope_metrics.scope.name, dict(point.attributes or {}), point)
            for resource_metrics in data.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def metric_names(self) -> set[str]:
        data = self.reader.get_metrics_data()
        if data is None:
            return set()
        return {
            metric.name
            for resource_metrics in data.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }


def in_memory() -> Otel:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return Otel(tracer_provider, exporter, MeterProvider(metric_readers=[reader]), reader)


class HeldSpanExporter(InMemorySpanExporter):
    """An in-memory exporter whose ``export`` waits while the file ``hold`` exists (for at most
    ``limit`` seconds): a slow collector behind a ``SimpleSpanProcessor``, which exports on the
    thread that ends the span. A test holds it to see what the server does meanwhile."""

    def __init__(self, hold: Path | None, limit: float = 30.0) -> None:
        super().__init__()
        self.hold = hold
        self.limit = limit

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.hold is not None:
            deadline = time.monotonic() + self.limit
            while self.hold.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
        return super().export(spans)


def held(hold: Path | None) -> Otel:
    """:func:`in_memory`, its spans exported through a :class:`HeldSpanExporter`."""
    exporter = HeldSpanExporter(hold)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return Otel(tracer_provider, exporter, MeterProvider(metric_readers=[reader]), reader)
