"""``path("", include("gatewatch.django.urls"))``: ``/metrics`` and ``/_gatewatch/live.json``."""

from __future__ import annotations

from django.urls import path

from gatewatch.django import views

app_name = "gatewatch"

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
    path("_gatewatch/live.json", views.live, name="live"),
]


def own_paths() -> tuple[str, ...]:
    """Where the project's URLconf serves these views (none when it does not include them), so
    the outer middleware leaves them unrecorded, as it does its own pages."""
    from django.urls import NoReverseMatch, reverse

    found = []
    for name in ("metrics", "live"):
        try:
            found.append(reverse(f"{app_name}:{name}"))
        except NoReverseMatch:
            continue
    return tuple(found)
