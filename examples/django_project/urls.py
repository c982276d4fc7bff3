from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.index),
    path("sync/", views.sync_view),
    path("async/", views.async_view),
    path("slow-sync/", views.slow_sync),
    path("slow-async/", views.slow_async),
    path("blocking-async/", views.blocking_async),
    path("items/<int:pk>/", views.item),
    path("stream/", views.stream),
    path("error/", views.error),
    path("health/", views.HealthView.as_view()),
    # /metrics and /_gatewatch/live.json
    path("", include("gatewatch.integrations.django.urls")),
]
