"""OpenTelemetry export (the ``otel`` extra): spans and metrics on the semantic conventions.

``otel=True`` on a middleware (``GATEWATCH_OTEL=true``, Django's ``GATEWATCH["OTEL"]``) adds
one :class:`~gatewatch.export.otel.sink.OtelSink` to the monitor it records into; the middleware then
calls its application through an entry point of :mod:`gatewatch.export.otel.entry` that starts the
request's span and makes it current. Nothing of this is imported, or costs a request
anything, while ``otel`` is off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatewatch.monitor import Monitor
from gatewatch.options import Options

if TYPE_CHECKING:
    from gatewatch.export.otel.sink import OtelSink


def new_sink(monitor: Monitor, options: Options) -> OtelSink:
    """An OpenTelemetry sink added to ``monitor``; a process keeps one per monitor
    (:meth:`gatewatch.runtime.Runtime.otel_sink`)."""
    try:
        from gatewatch.export.otel.sink import OtelSink
    except ImportError as exc:
        raise ImportError(
            f"otel=True needs OpenTelemetry's API and SDK: pip install 'gatewatch[otel]' ({exc})"
        ) from exc
    sink = OtelSink(
        monitor,
        tracer_provider=options.tracer_provider,
        meter_provider=options.meter_provider,
        url_query=options.otel_url_query,
        url_path=options.otel_url_path,
        histograms=options.histogram_choice(),
        duration_buckets=dict(options.buckets).get("duration"),
    )
    monitor.add_sink(sink)
    return sink


def check_same(sink: OtelSink, options: Options) -> None:
    """Middlewares recording into one monitor must agree on the providers (``ValueError``
    otherwise), as on the histograms."""
    same = (
        sink.tracer_provider is options.tracer_provider
        and sink.meter_provider is options.meter_provider
        and sink.url_query == options.otel_url_query
        and sink.url_path == options.otel_url_path
        and sink.histograms == options.histogram_choice()
    )
    if not same:
        raise ValueError(
            "otel options (tracer_provider, meter_provider, otel_url_query, otel_url_path, "
            "histograms) conflict with the OpenTelemetry export already on this monitor; "
            "pass the same ones, a separate registry=, or a shared monitor="
        )
