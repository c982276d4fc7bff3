"""``/metrics`` and the live view for Django's URLconf (``gatewatch.integrations.django.urls``).

Both are sync views on purpose: under ASGI Django runs them in a thread, so building
a scrape never holds the event loop.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client.exposition import choose_encoder

from gatewatch.export.live.endpoint import NOT_ENABLED, UNAUTHORIZED, authorize, live_body
from gatewatch.export.prometheus.exposition import scrape_registry
from gatewatch.integrations.django.options import configured_options
from gatewatch.integrations.django.project_monitor import project_monitor
from gatewatch.runtime import current


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    options = configured_options()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(scrape_registry(options.registry))
    return HttpResponse(body, content_type=content_type)


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
