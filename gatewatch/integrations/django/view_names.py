"""Name a Django request's route (the URL pattern, not the path) and its view."""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction

from gatewatch.integrations.django._patterns import route_label
from gatewatch.record import RequestRecord

# view function -> (dotted name, "sync"/"async"); bounded by the URLconf in practice,
# and by this cap by construction.
_MAX_VIEWS = 10_000
_views: dict[Any, tuple[str, str]] = {}


def name_view(record: RequestRecord, request: Any) -> None:
    """Copy the resolved route template and view onto ``record``; unresolved requests
    (404 before a view, short-circuiting middleware) keep no route."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return
    route = match.route
    # Django's templates (re_path regexes made readable) are relative to the site root.
    record.route = route_label(route) if isinstance(route, str) else None
    func = match.func
    named = _views.get(func)
    if named is None:
        named = describe_view(func)
        if len(_views) < _MAX_VIEWS:
            _views[func] = named
    record.view, record.view_kind = named


def describe_view(func: Any) -> tuple[str, str]:
    """``("app.views.ItemView", "async")``: the class of a class-based view, else the function."""
    target = getattr(func, "view_class", func)
    module = getattr(target, "__module__", None) or "?"
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}", "async" if iscoroutinefunction(func) else "sync"
