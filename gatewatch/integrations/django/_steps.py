"""What ``manage.py check`` says about the optional steps after the MIDDLEWARE line.

The line alone records every request and answers ``/metrics`` and the live view. Each step
below adds something named in its message (``gatewatch.I002``-``I004``), listed only while it
is not taken; ``gatewatch.W003`` says when the project's own view holds one of gatewatch's paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from gatewatch.asgi.middleware import GatewatchASGI
from gatewatch.integrations.django._pages import find_pages, shadowed_message
from gatewatch.integrations.django.options import configured_options
from gatewatch.wsgi.middleware import GatewatchWSGI

ADDS_URLS = (
    "path('', include('gatewatch.integrations.django.urls')) in your URLconf mounts /metrics and "
    "the live view "
    "where you choose (a prefix, your own decorators); the middleware then leaves them to it."
)
ADDS_WSGI = (
    "application = GatewatchWSGI(get_wsgi_application()) in {module} adds what only the server's "
    "side sees: Django's handler around the middleware chain, after-response time (close()), "
    "request body bytes, time to first byte and bytes of streamed responses, clients that leave "
    "mid-response, queue time (X-Request-Start), and worker capacity and saturation."
)
ADDS_ASGI = (
    "application = GatewatchASGI(get_asgi_application()) in {module} (around the ProtocolTypeRouter "
    "with Channels) adds what only the server's side sees: Django's handler around the middleware "
    "chain (it reads the whole request body first), request body bytes, after-response time, time "
    "to first byte and bytes of streamed responses, clients that leave while it is sent, and "
    "WebSocket sessions."
)


def check_pages(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        pages = find_pages(configured_options())
    except Exception:  # noqa: BLE001 - the settings and URLconf checks report those
        return []
    return [
        checks.Warning(shadowed_message(*shadowed), obj=shadowed[0], id="gatewatch.W003")
        for shadowed in pages.shadowed
    ]


def check_optional_steps(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    try:
        routed = find_pages(configured_options()).routed
    except Exception:  # noqa: BLE001 - as above
        routed = ()
    if not routed:
        messages.append(checks.Info(f"Optional: {ADDS_URLS}", obj="ROOT_URLCONF", id="gatewatch.I002"))
    wsgi_path = getattr(settings, "WSGI_APPLICATION", None)
    if _unwrapped(wsgi_path, GatewatchWSGI):
        module = str(wsgi_path).rpartition(".")[0]
        message = f"Optional: {ADDS_WSGI.format(module=module)}"
        messages.append(checks.Info(message, obj="WSGI_APPLICATION", id="gatewatch.I003"))
    asgi_path = _asgi_path(wsgi_path)
    if _unwrapped(asgi_path, GatewatchASGI):
        module = str(asgi_path).rpartition(".")[0]
        message = f"Optional: {ADDS_ASGI.format(module=module)}"
        messages.append(checks.Info(message, obj="ASGI_APPLICATION", id="gatewatch.I004"))
    return messages


def _asgi_path(wsgi_path: object) -> str | None:
    """``ASGI_APPLICATION`` (Channels, Daphne), else the ``asgi.py`` beside ``wsgi.py`` that
    ``startproject`` writes (plain Django under uvicorn names it nowhere in the settings)."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if isinstance(path, str) and path:
        return path
    if isinstance(wsgi_path, str):
        module, _, name = wsgi_path.rpartition(".")
        package, _, last = module.rpartition(".")
        if last == "wsgi":
            return f"{package}.asgi.{name}" if package else f"asgi.{name}"
    return None


def _unwrapped(path: object, wrapper: type) -> bool:
    """Whether the entry point at ``path`` loads and is not wrapped in ``wrapper``."""
    if not isinstance(path, str) or not path:
        return False
    try:
        application = import_string(path)
    except Exception:  # noqa: BLE001 - no such entry point, or Django's own check reports it
        return False
    return not isinstance(application, wrapper)
