"""The paths a middleware answers itself or leaves unrecorded, decided once at construction.

gatewatch's own pages (``metrics_path``, ``live_path``) are answered by gatewatch; the
``exclude_paths`` (health checks, a framework's own metrics view) go to the application
untouched and are never recorded. An entry ending in ``*`` is a prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final, Generic, TypeVar

from gatewatch.options import Options

App = TypeVar("App")


class _Excluded:
    """Served by the application, not recorded."""


EXCLUDED: Final = _Excluded()


class SpecialPaths(Generic[App]):
    __slots__ = ("_exact", "_prefixes", "active")

    def __init__(self, pages: Mapping[str, App], exclude: Iterable[str] = ()) -> None:
        exact: dict[str, App | _Excluded] = {}
        prefixes: list[str] = []
        for path in exclude:
            if path.endswith("*"):
                prefixes.append(path[:-1])
            else:
                exact[path] = EXCLUDED
        # gatewatch's own pages win over an exclusion of the same path.
        exact.update(pages)
        self._exact = exact
        self._prefixes = tuple(prefixes)
        # False: nothing to look up, every request is the application's and is recorded.
        self.active = bool(exact or prefixes)

    def find(self, path: str, root_path: str = "") -> App | _Excluded | None:
        """The own page at ``path``, :data:`EXCLUDED`, or None for an ordinary request. A
        ``root_path`` the server put in front of the path (uvicorn ``--root-path``) is
        looked through too."""
        found = self._exact.get(path)
        if found is None and root_path and path.startswith(root_path):
            path = path[len(root_path) :]
            found = self._exact.get(path)
        if found is None and self._prefixes and path.startswith(self._prefixes):
            return EXCLUDED
        return found


def special_paths(
    options: Options,
    *,
    metrics_page: Callable[[], App],
    live_page: Callable[[], App],
    also_excluded: Iterable[str] = (),
) -> SpecialPaths[App]:
    """A middleware's special paths: its own pages as ``options`` turn them on (each page built
    only when it is), its ``exclude_paths``, and ``also_excluded`` (a framework's own views)."""
    pages: dict[str, App] = {}
    if options.metrics_path is not None:
        pages[options.metrics_path] = metrics_page()
    if options.live_path is not None:
        pages[options.live_path] = live_page()
    return SpecialPaths(pages, (*options.exclude_paths, *also_excluded))
