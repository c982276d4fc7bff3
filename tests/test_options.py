"""Bad configuration fails at construction with the option's name."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    pass


def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    return []


@pytest.mark.parametrize("middleware", [GatewatchASGI, GatewatchWSGI])
@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"max_routes": 0}, ValueError, "max_routes"),
        ({"max_routes": -5}, ValueError, "max_routes"),
        ({"max_routes": "10"}, TypeError, "max_routes"),
        ({"max_routes": True}, TypeError, "max_routes"),
        ({"metrics_path": "metrics"}, ValueError, "metrics_path"),
        ({"metrics_path": 5}, TypeError, "metrics_path"),
        ({"cpu_time": "yes"}, TypeError, "cpu_time"),
        ({"registry": "default"}, TypeError, "registry"),
        ({"monitor": object()}, TypeError, "monitor"),
        ({"max_route": 10}, TypeError, "max_route"),
    ],
)
def test_bad_option_names_itself(
    middleware: Any, options: dict[str, Any], error: type[Exception], name: str
) -> None:
    app = asgi_app if middleware is GatewatchASGI else wsgi_app
    with pytest.raises(error, match=name):
        middleware(app, registry=CollectorRegistry(), **options) if "registry" not in options \
            else middleware(app, **options)


def test_conflicting_max_routes_on_one_registry(registry: CollectorRegistry) -> None:
    GatewatchASGI(asgi_app, registry=registry, max_routes=10)
    GatewatchWSGI(wsgi_app, registry=registry, max_routes=10)
    with pytest.raises(ValueError, match="max_routes=20"):
        GatewatchASGI(asgi_app, registry=registry, max_routes=20)


def test_shared_monitor(registry: CollectorRegistry) -> None:
    monitor = Monitor(max_routes=3)
    assert GatewatchASGI(asgi_app, monitor=monitor).monitor is monitor
    assert GatewatchWSGI(wsgi_app, monitor=monitor).monitor is monitor


def test_monitor_validates() -> None:
    with pytest.raises(ValueError, match="max_routes"):
        Monitor(max_routes=0)
