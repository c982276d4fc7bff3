"""Options shared by the middlewares, checked once at construction."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from prometheus_client.registry import REGISTRY, CollectorRegistry

from gatewatch.labels import check_max_routes
from gatewatch.monitor import Monitor
from gatewatch.multiprocess_dir import check_single_process, multiprocess_enabled
from gatewatch.prometheus.collector import monitor_for_registry
from gatewatch.prometheus.multiprocess import process_monitor

DEFAULT_LIVE_PATH = "/_gatewatch/live.json"
DEFAULT_MAX_ROUTES = 500
_ASGI_SERVERS = ("uvicorn", "hypercorn", "daphne", "granian")
_WSGI_SERVERS = ("gunicorn", "waitress", "uwsgi", "mod_wsgi", "bjoern", "wsgiref.simple_server")


@dataclass(frozen=True)
class Setup:
    monitor: Monitor
    registry: CollectorRegistry


def resolve(
    *,
    interface: str,
    registry: CollectorRegistry | None,
    monitor: Monitor | None,
    max_routes: int | None,
    metrics_path: str | None,
    cpu_time: bool,
    live_path: str | None = None,
    live_token: str | None = None,
    app: object = None,
) -> Setup:
    """Validate the options every middleware takes and find the monitor to record into.

    When ``app`` is Django's own handler, the project's ``settings.GATEWATCH`` decides the
    options both layers share (the route cap and the registry): an option left out here takes
    the project's value, and one given here that differs fails now, naming both.
    """
    registry, max_routes = _reconcile_with_django(app, registry=registry, max_routes=max_routes)
    if max_routes is None:
        max_routes = DEFAULT_MAX_ROUTES
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise TypeError(
            f"registry must be a prometheus_client CollectorRegistry, got {type(registry).__name__}"
        )
    if monitor is not None and not isinstance(monitor, Monitor):
        raise TypeError(f"monitor must be a gatewatch Monitor, got {type(monitor).__name__}")
    check_max_routes(max_routes)
    if metrics_path is not None:
        if not isinstance(metrics_path, str):
            raise TypeError(f"metrics_path must be a str or None, got {type(metrics_path).__name__}")
        if not metrics_path.startswith("/"):
            raise ValueError(f"metrics_path must start with '/', got {metrics_path!r}")
    check_live(live_path=live_path, live_token=live_token, metrics_path=metrics_path)
    if not isinstance(cpu_time, bool):
        raise TypeError(f"cpu_time must be a bool, got {type(cpu_time).__name__}")
    registry = REGISTRY if registry is None else registry
    if monitor is None:
        monitor = shared_monitor(registry, max_routes=max_routes, interface=interface)
    else:
        monitor.note_server(interface, detect_server(interface))
    return Setup(monitor=monitor, registry=registry)


def shared_monitor(
    registry: CollectorRegistry | None, *, max_routes: int, interface: str | None
) -> Monitor:
    """This process's monitor exporting to ``registry`` (the global one when None), or to
    prometheus-client's multiprocess files when that mode is on; every middleware and
    integration of the process that names the same registry records into it. With an
    ``interface``, the server serving it is noted for ``gatewatch_info``."""
    if multiprocess_enabled():
        monitor, sink = process_monitor(max_routes=max_routes)
    else:
        # Under gunicorn -w N each worker would export its own share as the server's numbers.
        check_single_process()
        monitor = monitor_for_registry(REGISTRY if registry is None else registry, max_routes=max_routes)
        sink = None
    if interface is not None:
        server = detect_server(interface)
        monitor.note_server(interface, server)
        if sink is not None:
            # The multiprocess info gauge lives in the files, not in the monitor.
            sink.note_server(interface, server)
    return monitor


def _reconcile_with_django(
    app: object, *, registry: CollectorRegistry | None, max_routes: int | None
) -> tuple[CollectorRegistry | None, int | None]:
    if "django.core.handlers.base" not in sys.modules:
        return registry, max_routes
    from django.core.handlers.base import BaseHandler

    # Channels' ProtocolTypeRouter holds Django's handler as its "http" application.
    mapping = getattr(app, "application_mapping", None)
    handler = mapping.get("http") if isinstance(mapping, dict) else app
    if not isinstance(handler, BaseHandler):
        return registry, max_routes
    from gatewatch.django.options import configured_options

    project = configured_options()
    if max_routes is None:
        max_routes = project.max_routes
    elif max_routes != project.max_routes:
        raise ValueError(
            f"max_routes={max_routes} conflicts with settings.GATEWATCH['MAX_ROUTES'] = "
            f"{project.max_routes} of the Django project it wraps; leave max_routes out (the "
            "project's setting applies to both layers) or set the same value in both"
        )
    if registry is None:
        registry = project.registry
    elif project.registry is not None and registry is not project.registry:
        raise ValueError(
            "registry= conflicts with settings.GATEWATCH['REGISTRY'] of the Django project it "
            "wraps; leave registry out (the project's setting applies to both layers) or pass "
            "the same registry"
        )
    return registry, max_routes


def check_live(*, live_path: str | None, live_token: str | None, metrics_path: str | None) -> None:
    """Validate the live view's options (``live_path=None``: the middleware does not serve it)."""
    if live_path is not None:
        if not isinstance(live_path, str):
            raise TypeError(f"live_path must be a str or None, got {type(live_path).__name__}")
        if not live_path.startswith("/"):
            raise ValueError(f"live_path must start with '/', got {live_path!r}")
        if live_path == metrics_path:
            raise ValueError(f"live_path must differ from metrics_path, both are {live_path!r}")
    if live_token is not None:
        if not isinstance(live_token, str):
            raise TypeError(f"live_token must be a str or None, got {type(live_token).__name__}")
        # It travels as "Authorization: Bearer <token>": anything a header would mangle could
        # never match, and the endpoint would refuse everyone without saying why.
        if not live_token or not live_token.isascii() or not live_token.isprintable() or " " in live_token:
            raise ValueError("live_token must be a non-empty string of printable ASCII without spaces")
        if live_path is None:
            raise ValueError("live_token has no effect without live_path")


def check_loop_options(
    *, loop_lag_interval: float | None = None, block_threshold: float | None = None
) -> None:
    """Validate the event-loop options (``None`` turns each measurement off)."""
    for name, value in (("loop_lag_interval", loop_lag_interval), ("block_threshold", block_threshold)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number of seconds or None, got {type(value).__name__}")
        if not 0.001 <= value <= 60:
            raise ValueError(f"{name} must be between 0.001 and 60 seconds, got {value!r}")


def detect_server(interface: str) -> str:
    """The server that imported the application, for gatewatch_info; servers import
    themselves before they load the app, so this is known at construction."""
    candidates = _ASGI_SERVERS if interface == "asgi" else _WSGI_SERVERS
    for name in candidates:
        if name in sys.modules:
            return name.split(".")[0]
    return "unknown"
