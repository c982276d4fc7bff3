"""``path("", include("gatewatch.django.urls"))``: ``/metrics`` and ``/_gatewatch/live.json``."""

from __future__ import annotations

from django.urls import path

from gatewatch.django import views

app_name = "gatewatch"

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
    path("_gatewatch/live.json", views.live, name="live"),
]
