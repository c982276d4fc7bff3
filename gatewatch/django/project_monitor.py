"""The monitor a Django project records into and its views read."""

from __future__ import annotations

from prometheus_client import REGISTRY

from gatewatch.django.options import DjangoOptions
from gatewatch.live import live_state_for
from gatewatch.monitor import Monitor
from gatewatch.options import detect_server
from gatewatch.prometheus import monitor_for_registry
from gatewatch.prometheus_multiprocess import multiprocess_enabled, process_monitor


def project_monitor(options: DjangoOptions, interface: str | None = None) -> Monitor:
    """This process's monitor for ``options.registry`` (the one an outer
    ``GatewatchASGI``/``GatewatchWSGI`` with the same registry uses too)."""
    if multiprocess_enabled():
        monitor, sink = process_monitor(max_routes=options.max_routes)
        if interface is not None:
            sink.note_server(interface, detect_server(interface))
    else:
        registry = REGISTRY if options.registry is None else options.registry
        monitor = monitor_for_registry(registry, max_routes=options.max_routes)
    if interface is not None:
        monitor.note_server(interface, detect_server(interface))
    # The live view keeps what it sees from now on: attach it before the first request.
    live_state_for(monitor)
    return monitor
