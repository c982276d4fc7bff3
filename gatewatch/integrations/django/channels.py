"""Django Channels: WebSocket (and HTTP) routes of ``URLRouter`` named by their pattern.

Channels' ``URLRouter`` hands each consumer a copy of the scope, so nothing outside
it learns which pattern matched. :func:`name_channels_routes` finds the routers in an
application (through ``ProtocolTypeRouter`` and middleware such as
``AuthMiddlewareStack`` or ``AllowedHostsOriginValidator``) and wraps each route's
consumer in a pass-through that names the route on the request record.
:class:`~gatewatch.GatewatchASGI` calls it by itself when Channels is loaded.
"""

from __future__ import annotations

import sys
from typing import Any

from gatewatch.integrations.django._patterns import join, route_label
from gatewatch.record import current_record
from gatewatch.types import ASGIApp, Receive, Scope, Send

# Where Channels' routers and middleware keep the application they wrap.
_INNER_ATTRIBUTES = ("inner", "application", "app")
_MAX_DEPTH = 16


class NamedRoute:
    """Calls the consumer unchanged, after naming the route it matched."""

    __slots__ = ("app", "template", "view", "view_kind")

    def __init__(self, app: ASGIApp, template: str, view: tuple[str, str] | None) -> None:
        self.app = app
        self.template = template
        self.view: str | None = view[0] if view is not None else None
        self.view_kind = view[1] if view is not None else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = current_record.get()
        if record is not None:
            record.route = self.template
            if self.view is not None:
                record.view, record.view_kind = self.view, self.view_kind
        await self.app(scope, receive, send)


def name_channels_routes(application: Any) -> int:
    """Name every route of every ``URLRouter`` reachable from ``application``; returns
    how many routes were named. Safe to call again: routes already named are skipped."""
    if "channels.routing" not in sys.modules:
        return 0
    from channels.routing import URLRouter

    named = 0
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(application, 0)]
    while stack:
        app, depth = stack.pop()
        if id(app) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(app))
        if isinstance(app, URLRouter):
            named += _name_router(app, "", URLRouter)
            continue
        mapping = getattr(app, "application_mapping", None)
        if isinstance(mapping, dict):
            stack.extend((inner, depth + 1) for inner in mapping.values())
        for attribute in _INNER_ATTRIBUTES:
            inner = getattr(app, attribute, None)
            if inner is not None and callable(inner):
                stack.append((inner, depth + 1))
    return named


def _name_router(router: Any, prefix: str, router_type: type) -> int:
    named = 0
    for route in router.routes:
        # Nested routers' patterns, joined as Django joins an include()'s.
        pattern = join(prefix, str(route.pattern))
        callback = route.callback
        if isinstance(callback, router_type):
            named += _name_router(callback, pattern, router_type)
        elif not isinstance(callback, NamedRoute):
            route.callback = NamedRoute(callback, route_label(pattern), _consumer_name(callback))
            named += 1
    return named


def _consumer_name(callback: Any) -> tuple[str, str] | None:
    """The consumer class's dotted name, and "sync" for consumers whose handlers Channels
    runs in threads (``SyncConsumer``), "async" for the others."""
    # Consumer.as_asgi() keeps the class on the function it returns.
    consumer = getattr(callback, "consumer_class", None)
    if not isinstance(consumer, type):
        return None
    from channels.consumer import SyncConsumer

    kind = "sync" if issubclass(consumer, SyncConsumer) else "async"
    return f"{consumer.__module__}.{consumer.__qualname__}", kind
