"""``/metrics`` and the live view for Django's URLconf (``gatewatch.django.urls``).

Both are sync views on purpose: under ASGI Django runs them in a thread, so building
a scrape never holds the event loop.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client.exposition import choose_encoder

from gatewatch.django.options import configured_options
from gatewatch.django.project_monitor import project_monitor
from gatewatch.live.endpoint import authorize, live_body
from gatewatch.live.state import live_state_for
from gatewatch.prometheus.exposition import scrape_registry

# Behind a reverse proxy on the same host every client looks local: refuse those
# without a token.
_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    options = configured_options()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(scrape_registry(options.registry))
    return HttpResponse(body, content_type=content_type)


@never_cache
def live(request: HttpRequest) -> HttpResponse:
    options = configured_options()
    forwarded = any(name in request.headers for name in _FORWARDING_HEADERS)
    if not authorize(
        request.META.get("REMOTE_ADDR"),
        request.headers.get("Authorization"),
        options.live_token,
        host=request.META.get("HTTP_HOST"),
        forwarded=forwarded,
    ):
        return HttpResponse(status=403)
    state = live_state_for(project_monitor(options))
    return HttpResponse(live_body(state), content_type="application/json")
