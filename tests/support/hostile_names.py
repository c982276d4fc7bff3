"""The recorded live views with every string an app gives (routes, server names, what a request
awaits, stack frames) swapped for names shaped like markup or terminal controls, and how each
must look on screen: exactly as written, controls shown as their escapes."""

from __future__ import annotations

import json
from typing import Any

from tests.support.live_fixtures import asgi_view, wsgi_view

LONG = "/" + "very-long-route-" * 25  # 401 characters: past the 80 a cell shows

# original route -> the hostile route that replaces it
ROUTES = {
    "/slow": "[bold]x[/]",
    "/blocking": "[@click=app.quit]quit[/]",
    "/stream": "/^items/(?P<slug>[a-z-]+)/$",
    "/error": "/^files/(?P<path>[/\\w.-]+)$",
    "/ws/echo": "/ws\x1b[2J\x1b[H",
    "/ws/reject": "/ws\r\nGET /forged 200",
    "/fast": LONG,
}
SERVER = "uvicorn[/]\x1b]0;pwned\x07"
AWAITING = "[red]sleep\x1b[2J"
FRAME = "\x1b[2J[/]"

# What the screen shows for each hostile string (written out, not computed by the code under test).
SHOWN = {
    "[bold]x[/]": "[bold]x[/]",
    "[@click=app.quit]quit[/]": "[@click=app.quit]quit[/]",
    "/^items/(?P<slug>[a-z-]+)/$": "/^items/(?P<slug>[a-z-]+)/$",
    "/^files/(?P<path>[/\\w.-]+)$": "/^files/(?P<path>[/\\w.-]+)$",
    "/ws\x1b[2J\x1b[H": "/ws\\x1b[2J\\x1b[H",
    "/ws\r\nGET /forged 200": "/ws\\r\\nGET /forged 200",
    LONG: LONG[:80] + "…(+321)",
    SERVER: "uvicorn[/]\\x1b]0;pwned\\x07",
    AWAITING: "[red]sleep\\x1b[2J",
}


def _swap(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if key == "servers":
            return {interface: SERVER for interface in value}
        return {k: _swap(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "stack":
            return [frame + FRAME for frame in value]
        return [_swap(item, key) for item in value]
    if isinstance(value, str):
        if key in ("route", "route_label"):
            return ROUTES.get(value, value)
        if key == "function":
            return AWAITING
    return value


def _swap_keys(view: dict[str, Any]) -> dict[str, Any]:
    # Per-route counts are keyed by route: their keys are the app's strings too.
    for process in view["processes"]:
        websockets = process["websockets"]
        websockets["active_by_route"] = {
            ROUTES.get(route, route): n for route, n in websockets["active_by_route"].items()
        }
    return view


def hostile_views() -> list[bytes]:
    """The ASGI and the WSGI recorded views, hostile: the bytes an endpoint would answer."""
    return [json.dumps(_swap_keys(_swap(view()))).encode() for view in (asgi_view, wsgi_view)]


def hostile(view: dict[str, Any]) -> dict[str, Any]:
    """Any recorded view (one of a timeline) with the hostile names swapped in."""
    swapped: dict[str, Any] = _swap_keys(_swap(view))
    return swapped
