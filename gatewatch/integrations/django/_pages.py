"""Where gatewatch's two pages (``/metrics`` and the live view) are served in a Django project.

Each page is served by exactly one party, never two and never over the project's own view:

- the project's URLconf, when it includes ``gatewatch.integrations.django.urls`` (at whatever prefix);
- else ``GatewatchMiddleware`` itself, at ``metrics_path`` / ``live_path``, when the URLconf
  routes nothing there: the one MIDDLEWARE line then gives a scrape page;
- else nobody: the project's own view at that path (django-prometheus' ``/metrics``, a
  catch-all) is left alone, and gatewatch says so (``gatewatch.W003``).

Read from the URLconf, so only once it can be loaded (the first request, a system check, an
outer middleware's construction), never at the middleware's own construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from gatewatch.integrations.django import views
from gatewatch.integrations.django.view_names import describe_view
from gatewatch.options import Options

PageView = Callable[[HttpRequest], HttpResponse]
# The names in gatewatch.integrations.django.urls (app_name "gatewatch"), each with its option and view.
_PAGES: tuple[tuple[str, str, PageView], ...] = (
    ("metrics", "metrics_path", views.metrics),
    ("live", "live_path", views.live),
)


@dataclass(frozen=True)
class Pages:
    # path -> view: what GatewatchMiddleware answers itself.
    served: dict[str, PageView]
    # Where the URLconf serves gatewatch.integrations.django.urls' views.
    routed: tuple[str, ...]
    # (option, path, the project's view there): pages gatewatch leaves to the project.
    shadowed: tuple[tuple[str, str, str], ...]

    @property
    def own_paths(self) -> tuple[str, ...]:
        """Every path serving one of gatewatch's pages: never recorded as a request."""
        return (*self.routed, *self.served)


def find_pages(options: Options) -> Pages:
    served: dict[str, PageView] = {}
    routed: list[str] = []
    shadowed: list[tuple[str, str, str]] = []
    for name, option, view in _PAGES:
        try:
            routed.append(reverse(f"gatewatch:{name}"))
            continue
        except NoReverseMatch:
            pass
        path: str | None = getattr(options, option)
        if path is None:
            continue
        try:
            match = resolve(path)
        except Resolver404:
            served[path] = view
            continue
        shadowed.append((option, path, describe_view(match.func)[0]))
    return Pages(served=served, routed=tuple(routed), shadowed=tuple(shadowed))


def shadowed_message(option: str, path: str, view: str) -> str:
    return (
        f"gatewatch does not answer {path} ({option}): the project's URLconf routes it to {view}. "
        f"Set GATEWATCH['{option.upper()}'] to a free path (or None), "
        "or include gatewatch.integrations.django.urls."
    )
