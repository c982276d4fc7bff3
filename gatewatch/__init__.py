"""gatewatch: see how WSGI and ASGI really behave, live, in production."""

from gatewatch._route_naming import set_route
from gatewatch.asgi.middleware import GatewatchASGI
from gatewatch.export.prometheus.exposition import metrics_asgi_app, metrics_wsgi_app
from gatewatch.monitor import Monitor
from gatewatch.record import RequestRecord, current_record
from gatewatch.version import VERSION as __version__
from gatewatch.wsgi.middleware import GatewatchWSGI

__all__ = [
    "GatewatchASGI",
    "GatewatchWSGI",
    "Monitor",
    "RequestRecord",
    "__version__",
    "current_record",
    "metrics_asgi_app",
    "metrics_wsgi_app",
    "set_route",
]
