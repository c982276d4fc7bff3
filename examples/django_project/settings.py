"""Settings for the example project: no database, gatewatch first in MIDDLEWARE."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "gatewatch-example-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "gatewatch.integrations.django",
]

MIDDLEWARE = [
    # First, so it sees every other middleware's time and exceptions (gatewatch.W001).
    "gatewatch.integrations.django.GatewatchMiddleware",
    "django.middleware.common.CommonMiddleware",
]
if os.environ.get("EXAMPLE_SYNC_MIDDLEWARE") == "1":
    # A sync-only middleware: under ASGI every request now pays thread hand-offs.
    MIDDLEWARE.append(f"{__package__}.legacy_middleware.LegacyHeaderMiddleware")

# The project's modules by dotted path from whatever this package is called: examples.django_project
# in a checkout, gatewatch.demo.apps.django_project installed, your name in a copy.
ROOT_URLCONF = f"{__package__}.urls"
WSGI_APPLICATION = f"{__package__}.wsgi.application"
ASGI_APPLICATION = f"{__package__}.asgi.application"

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
