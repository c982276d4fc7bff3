"""Where a middleware's records go: this process's monitor for a registry (or for prometheus-
client's multiprocess files), with the server noted for ``gatewatch_info``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.registry import REGISTRY, CollectorRegistry

from gatewatch._multiprocess_dir import check_single_process, multiprocess_enabled
from gatewatch.export.prometheus.collector import exemplar_hook, monitor_for_registry
from gatewatch.export.prometheus.multiprocess import process_monitor
from gatewatch.integrations._serving_server import calling_server
from gatewatch.monitor import Monitor
from gatewatch.options import Options

if TYPE_CHECKING:
    from gatewatch.export.otel.sink import OtelSink


@dataclass(frozen=True)
class Setup:
    monitor: Monitor
    registry: CollectorRegistry
    # The OpenTelemetry export, when options.otel is on.
    otel: OtelSink | None = None


def connect(options: Options, *, interface: str, monitor: Monitor | None) -> Setup:
    """The monitor a middleware with ``options`` records into (``monitor`` when given)."""
    if monitor is not None and not isinstance(monitor, Monitor):
        raise TypeError(f"monitor must be a gatewatch Monitor, got {type(monitor).__name__}")
    registry = REGISTRY if options.registry is None else options.registry
    if monitor is None:
        # The server is noted by the middleware at its first request, from the server itself.
        monitor = shared_monitor(options, interface=None)
    otel = attach_otel(monitor, options) if options.otel else None
    return Setup(monitor=monitor, registry=registry, otel=otel)


def shared_monitor(options: Options, *, interface: str | None) -> Monitor:
    """This process's monitor exporting to ``options.registry`` (the global one when None), or
    to prometheus-client's multiprocess files when that mode is on; every middleware and
    integration of the process that names the same registry records into it. With an
    ``interface`` (called from a request), the server serving it is noted for ``gatewatch_info``."""
    if multiprocess_enabled():
        choice = options.histogram_choice()
        monitor, _sink = process_monitor(max_routes=options.max_routes, histograms=choice)
    else:
        # Under gunicorn -w N each worker would export its own share as the server's numbers.
        check_single_process()
        registry = REGISTRY if options.registry is None else options.registry
        monitor = monitor_for_registry(
            registry, max_routes=options.max_routes, histograms=options.histogram_choice()
        )
    if interface is not None:
        # The multiprocess sink hears of it through the monitor (its info gauge is in the files).
        monitor.note_server(interface, calling_server())
    if options.otel:
        attach_otel(monitor, options)
    return monitor


def attach_otel(monitor: Monitor, options: Options) -> OtelSink:
    """``monitor``'s OpenTelemetry sink (added once), its spans' trace ids carried as exemplars
    by the single-process Prometheus duration histogram when one shares the monitor."""
    from gatewatch.export.otel import attach

    sink = attach(monitor, options)
    if sink.exemplars is None and not multiprocess_enabled():
        sink.exemplars = exemplar_hook(monitor)
    return sink


def detect_server(interface: str) -> str:
    """The server whose frames called this (gatewatch.integrations._serving_server), for gatewatch_info."""
    return calling_server()
