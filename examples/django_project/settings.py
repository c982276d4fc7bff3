"""Settings for the example project: no database, gatewatch first in MIDDLEWARE."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "gatewatch-example-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "gatewatch.django",
]

MIDDLEWARE = [
    # First, so it sees every other middleware's time and exceptions (gatewatch.W001).
    "gatewatch.django.GatewatchMiddleware",
    "django.middleware.common.CommonMiddleware",
]
if os.environ.get("EXAMPLE_SYNC_MIDDLEWARE") == "1":
    # A sync-only middleware: under ASGI every request now pays thread hand-offs.
    MIDDLEWARE.append("examples.django_project.legacy_middleware.LegacyHeaderMiddleware")

ROOT_URLCONF = "examples.django_project.urls"
WSGI_APPLICATION = "examples.django_project.wsgi.application"
ASGI_APPLICATION = "examples.django_project.asgi.application"

DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# Broadcast between WebSocket sessions of one process (uvicorn's single worker).
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Every key is optional; these are the defaults.
GATEWATCH = {
    "MAX_ROUTES": 500,
    "CPU_TIME": True,
    "TRACK_OFFLOAD": True,
    "LIVE_TOKEN": os.environ.get("GATEWATCH_LIVE_TOKEN") or None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"gatewatch": {"handlers": ["console"], "level": "WARNING"}},
}
