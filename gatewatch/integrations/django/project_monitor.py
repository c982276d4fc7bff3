"""The monitor a Django project records into and its views read."""

from __future__ import annotations

from gatewatch.monitor import Monitor
from gatewatch.options import Options
from gatewatch.runtime import Runtime, current


def project_monitor(
    options: Options, interface: str | None = None, runtime: Runtime | None = None
) -> Monitor:
    """This process's monitor for ``options.registry`` (the one an outer
    ``GatewatchASGI``/``GatewatchWSGI`` with the same registry uses too), from ``runtime``
    (by default this process's)."""
    runtime = current() if runtime is None else runtime
    monitor = runtime.monitor(options, interface=interface)
    # The live view keeps what it sees from now on: attach it before the first request.
    runtime.live_state(monitor)
    return monitor
