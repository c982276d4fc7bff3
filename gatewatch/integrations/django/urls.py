"""``path("", include("gatewatch.integrations.django.urls"))``: ``/metrics`` and ``/_gatewatch/live.json``.

Optional: ``GatewatchMiddleware`` answers both pages itself where the URLconf routes nothing.
Including these mounts them where you choose (``path("ops/", include(...))``: ``/ops/metrics``)
and behind your own decorators; the middleware then leaves them to the URLconf.
"""

from __future__ import annotations

from django.urls import path

from gatewatch.integrations.django import views

app_name = "gatewatch"

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
    path("_gatewatch/live.json", views.live, name="live"),
]


def own_paths() -> tuple[str, ...]:
    """Where the project serves gatewatch's pages (through these views, or the middleware's
    own), so the outer middleware leaves them unrecorded, as it does its own pages."""
    from gatewatch.integrations.django._pages import find_pages
    from gatewatch.integrations.django.options import configured_options

    return find_pages(configured_options()).own_paths
