"""ASGI entry point: ``uvicorn examples.django_project.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from gatewatch import GatewatchASGI

# This package's settings, whatever it is called (examples.django_project in a checkout,
# gatewatch.demo.apps.django_project installed, your name in a copy).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"{__package__}.settings")
# Django is set up before anything imports models or consumers.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402

# GatewatchASGI names the Channels routes (URLRouter patterns) by itself.
application = GatewatchASGI(
    ProtocolTypeRouter(
        {
            "http": django_application,
            "websocket": URLRouter(websocket_urlpatterns),
        }
    )
)
