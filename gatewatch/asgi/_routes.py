"""Route templates from ASGI frameworks' routers (Starlette, FastAPI).

Starlette's routers put the route they matched in ``scope["route"]`` (each router on the way
down overwriting the one above) and extend the concrete ``root_path`` for every ``Mount`` they
go through: neither names the templates of the mounts above the route, and the concrete prefix
holds whatever the client sent (``/t/customer-0@example.com``). So a label is built only from
templates the app declares: the first time a route object is seen, the router tree under
``scope["router"]`` (the outermost router) is walked once and every route's full template
(``/t/{tenant}/items``) is kept by route object. A request then costs two dictionary reads.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from gatewatch.asgi._read_only import read_only
from gatewatch.types import Scope

# Labels the walk cannot complete: a route under a mount whose app hides its routes (no
# ``routes`` or ``app`` attribute to follow) is shown with this in place of the mount's template.
UNSEEN_MOUNT = "…"
# Bounds on what one walk visits and on what is kept, against odd or self-referring apps.
_MAX_DEPTH = 32
_MAX_NODES = 20_000
_MAX_TREES = 64
_MAX_ROUTES = 20_000


class _Candidate:
    """One place a route object sits in the tree, for a route reachable from several mounts."""

    __slots__ = ("host", "label", "path")

    def __init__(self, label: str | None, path: str, host: str | None) -> None:
        from starlette.routing import compile_path

        self.label = label
        self.path: re.Pattern[str] = compile_path(path)[0]
        self.host: re.Pattern[str] | None = compile_path(host)[0] if host is not None else None


# What a route object resolves to: its template, None (a mount or host whose routes matched
# nothing: a 404), or the candidates to tell apart by the request's path and host.
_Entry = str | None | tuple[_Candidate, ...]


class _Tree:
    __slots__ = ("entries", "router")

    def __init__(self, router: object) -> None:
        # Kept alive here so that the ids used as keys stay theirs (Starlette's routes
        # define __eq__ and so are unhashable).
        self.router = router
        self.entries: dict[int, tuple[object, _Entry]] = {}


_trees: dict[int, _Tree] = {}


def route_template(scope: Scope, root_path: str) -> str | None:
    """The full template of the route Starlette or FastAPI matched (``/t/{tenant}/items``),
    mounts and hosts included; None while (or when) nothing matched. ``root_path`` is the
    one the request arrived with (the server's ``--root-path``), outside the app's routes."""
    fields = read_only(scope)
    route: Any = fields.get("route")
    if route is None:
        route = _fastapi_route(scope)
        if route is None:
            return None
    router = fields.get("router")
    if router is None:
        # No Starlette router above it (a framework of its own): no tree to look in.
        return _unseen(route, scope, root_path)
    tree = _trees.get(id(router))
    if tree is None or tree.router is not router:
        if len(_trees) >= _MAX_TREES:
            _trees.pop(next(iter(_trees)), None)
        tree = _trees[id(router)] = _Tree(router)
    pair = tree.entries.get(id(route))
    found = pair[1] if pair is not None and pair[0] is route else _look_up(tree, route, scope, root_path)
    if found is None or isinstance(found, str):
        return found
    return _choose(found, scope, root_path)


def _fastapi_route(scope: Scope) -> Any:
    """FastAPI (0.120 on) leaves no ``scope["route"]`` for a plain Starlette route of an included
    router; the route it chose is in its own part of the scope."""
    fastapi = scope.get("fastapi")
    if not isinstance(fastapi, dict):
        return None
    context = fastapi.get("effective_route_context")
    return getattr(context, "starlette_route", None) or getattr(context, "original_route", None)


def _look_up(tree: _Tree, route: Any, scope: Scope, root_path: str) -> _Entry:
    """The slow path, once per route object: walk the tree and keep what it found."""
    for key, (node, entry) in _walk(tree.router).items():
        if len(tree.entries) < _MAX_ROUTES:
            tree.entries[key] = (node, entry)
    pair = tree.entries.get(id(route))
    if pair is not None and pair[0] is route:
        return pair[1]
    entry = _unseen(route, scope, root_path)
    if len(tree.entries) < _MAX_ROUTES:
        tree.entries[id(route)] = (route, entry)
    return entry


def _unseen(route: Any, scope: Scope, root_path: str) -> str | None:
    """A route the walk did not reach: its own template, under a marker for the mount that
    hid it unless no mount was gone through."""
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    own = path
    if _is_mount(route):
        if _routes_of(route):
            return None
        own = path + "/{path}"
    if scope.get("root_path", "") == root_path:
        return own
    return UNSEEN_MOUNT + own


def _choose(candidates: tuple[_Candidate, ...], scope: Scope, root_path: str) -> str | None:
    """A route object mounted in several places: the place this request's path (and host) fits."""
    path: str = scope.get("path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    host = None
    for candidate in candidates:
        if not candidate.path.match(path):
            continue
        if candidate.host is not None:
            if host is None:
                host = _host(scope)
            if not candidate.host.match(host):
                continue
        return candidate.label
    return candidates[0].label


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host: str = value.decode("latin-1").lower()
            return host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return ""


def _is_mount(node: object) -> bool:
    routing = sys.modules.get("starlette.routing")
    return routing is not None and isinstance(node, routing.Mount)


def _routes_of(app: Any) -> list[Any]:
    """The routes under ``app``: its own, or those of the app it wraps (middleware keeps the
    wrapped app as ``app``, as Starlette's and most others' do)."""
    for _ in range(_MAX_DEPTH):
        routes = getattr(app, "routes", None)
        if isinstance(routes, list) and routes:
            return routes
        inner = getattr(app, "app", None)
        if inner is None or inner is app:
            return []
        app = inner
    return []


# One place in the tree: (label or None for a 404 under a mount, Starlette path template to
# match the request against, host template or None).
_Place = tuple[str | None, str, str | None]


def _walk(router: object) -> dict[int, tuple[object, _Entry]]:
    """Every route object under ``router`` with its full template."""
    from starlette.routing import Host, Mount

    places: dict[int, tuple[object, list[_Place]]] = {}

    def place(node: object, label: str | None, path: str, host: str | None) -> None:
        places.setdefault(id(node), (node, []))[1].append((label, path, host))

    def labelled(path: str, host: str | None) -> str:
        return path if host is None else host + path

    # (node, path prefix, host template, depth, the node's own path when FastAPI gives it)
    stack: list[tuple[Any, str, str | None, int, str | None]] = [
        (node, "", None, 1, None) for node in _routes_of(router)[::-1]
    ]
    visited = 0
    while stack and visited < _MAX_NODES:
        node, prefix, host, depth, own_path = stack.pop()
        visited += 1
        if depth > _MAX_DEPTH:
            continue
        try:
            candidates = getattr(node, "effective_candidates", None)
            if callable(candidates):
                # FastAPI's included router: its routes with the include's prefix applied.
                for candidate in reversed(candidates()):
                    if callable(getattr(candidate, "effective_candidates", None)):
                        stack.append((candidate, prefix, host, depth + 1, None))
                        continue
                    original = candidate.original_route
                    copy = candidate.starlette_route
                    full = candidate.path or getattr(copy, "path", None)
                    if not isinstance(full, str):
                        continue
                    if copy is not None and copy is not original:
                        stack.append((copy, prefix, host, depth + 1, full))
                    stack.append((original, prefix, host, depth + 1, full))
                continue
            if isinstance(node, Host):
                inner = _routes_of(node.app)
                template = labelled(prefix + "/{path}", node.host)
                place(node, None if inner else template, prefix + "/{path:path}", node.host)
                stack.extend((child, prefix, node.host, depth + 1, None) for child in inner[::-1])
                continue
            path = own_path if own_path is not None else getattr(node, "path", None)
            if not isinstance(path, str):
                continue
            full = prefix + path
            if isinstance(node, Mount):
                inner = _routes_of(node)
                place(node, None if inner else labelled(full + "/{path}", host), full + "/{path:path}", host)
                stack.extend((child, full, host, depth + 1, None) for child in inner[::-1])
            else:
                place(node, labelled(full, host), full, host)
        except Exception:  # noqa: BLE001 - an odd route is left out; it is named as unseen
            continue
    return {key: (node, _entry(found)) for key, (node, found) in places.items()}


def _entry(places: list[_Place]) -> _Entry:
    labels = {label for label, _, _ in places}
    if len(labels) == 1:
        return places[0][0]
    return tuple(_Candidate(label, path, host) for label, path, host in places)
