"""Only the MIDDLEWARE line: what "add the middleware to settings" gives."""

from __future__ import annotations

SECRET_KEY = "gatewatch-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "gatewatch.integrations.django.GatewatchMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = f"{__package__}.urls"
WSGI_APPLICATION = f"{__package__}.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
