"""Route templates from ASGI frameworks' routers (Starlette, FastAPI)."""

from __future__ import annotations

from typing import Any

from gatewatch.types import Scope


def route_template(scope: Scope, root_path: str) -> str | None:
    """The route template Starlette or FastAPI matched, with any ``Mount`` prefixes.

    Their routers store the matched route in ``scope["route"]`` and extend
    ``root_path`` for every mount they descend into, in the same scope dict.
    """
    route: Any = scope.get("route")
    if route is None:
        return None
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    current_root: str = scope.get("root_path", "")
    prefix = current_root[len(root_path) :] if current_root.startswith(root_path) else ""
    routes = getattr(route, "routes", None)
    if routes is not None:
        # A Mount: its own path is in the prefix already. A mounted router that matched
        # nothing is a 404 (unmatched); a mounted app (static files) owns the subtree.
        return None if routes else f"{prefix}/{{path}}"
    return prefix + path
