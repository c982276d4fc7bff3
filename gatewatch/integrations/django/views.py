"""``/metrics`` and the live view for Django's URLconf (``gatewatch.integrations.django.urls``).

Both are sync views on purpose: under ASGI Django runs them in a thread, so building
a scrape never holds the event loop.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client.registry import CollectorRegistry

from gatewatch._multiprocess_dir import multiprocess_directory
from gatewatch.export.live.endpoint import NOT_ENABLED, UNAUTHORIZED, authorize, live_body
from gatewatch.export.prometheus.exposition import metrics_wsgi_app
from gatewatch.integrations.django.options import configured_options
from gatewatch.integrations.django.project_monitor import project_monitor
from gatewatch.runtime import current
from gatewatch.types import WSGIApp


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    # gatewatch's own exposition (its families rendered from its tables; content negotiation,
    # name[] and gzip as prometheus-client's), answering from the request's WSGI-shaped META.
    app = _metrics_app(configured_options().registry, multiprocess_directory())
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer.update(status=int(status.split()[0]), headers=headers)

    body = b"".join(app(request.META, start_response))
    response = HttpResponse(body, status=answer["status"])
    for name, value in answer["headers"]:
        response[name] = value
    return response


@lru_cache(maxsize=8)
def _metrics_app(registry: CollectorRegistry | None, directory: str) -> WSGIApp:
    # One per registry and multiprocess directory: a multiprocess merge keeps what it parsed
    # (the files' keys) from one scrape to the next, and the rendering its series' prefixes.
    return metrics_wsgi_app(registry)


@never_cache
def live(request: HttpRequest) -> HttpResponse:
    options = configured_options()
    # Only the token's bearer, loopback included: no header tells a local user from a proxied
    # stranger (gatewatch.export.live.endpoint).
    allowed = authorize(request.headers.get("Authorization"), options.live_token)
    if allowed != 200:
        refused = HttpResponse(
            NOT_ENABLED if allowed == 403 else UNAUTHORIZED, status=allowed, content_type="application/json"
        )
        if allowed == 401:
            refused["WWW-Authenticate"] = 'Bearer realm="gatewatch"'
        return refused
    state = current().live_state(project_monitor(options))
    return HttpResponse(live_body(state), content_type="application/json")
