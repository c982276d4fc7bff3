"""The monitor a Django project records into and its views read."""

from __future__ import annotations

from gatewatch._hub import shared_monitor
from gatewatch.export.live.state import live_state_for
from gatewatch.monitor import Monitor
from gatewatch.options import Options


def project_monitor(options: Options, interface: str | None = None) -> Monitor:
    """This process's monitor for ``options.registry`` (the one an outer
    ``GatewatchASGI``/``GatewatchWSGI`` with the same registry uses too)."""
    monitor = shared_monitor(options, interface=interface)
    # The live view keeps what it sees from now on: attach it before the first request.
    live_state_for(monitor)
    return monitor
