"""gatewatch's Grafana boards, one module each, built with grafana-foundation-sdk.

Only ``python grafana/generate.py`` imports them (the SDK is a development dependency); the
JSON they build is what ships.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import loop_workers, overview, route, websockets

# File name under grafana/dashboards -> the function that builds that board.
BOARDS: dict[str, Callable[[], Dashboard]] = {
    overview.FILE: overview.build,
    loop_workers.FILE: loop_workers.build,
    websockets.FILE: websockets.build,
    route.FILE: route.build,
}
