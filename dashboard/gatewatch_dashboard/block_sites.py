"""The Blocking tab's rows: loop blocks grouped by site (route and the application's innermost
frame), from every source's figures over the window chosen; plain data, no Textual.

A live view reads a stack when a block lasts long enough for the watchdog; a ``/metrics`` page
and Prometheus count blocks per route only (their site is ``""``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gatewatch_dashboard.figures import SiteRow, SourceFigures

# A frame as the library writes it (gatewatch.asgi._stack_capture): "file:line in function",
# then ": source line" when the source is known. A path may hold ":" (C:\...), a function
# name never does.
_FRAME = re.compile(r"^(?P<file>.+?):(?P<line>\d+) in (?P<function>[^:]*?)(?:: (?P<code>.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Frame:
    """One line of a stack, split where it can be (``file`` is "" when it could not)."""

    text: str  # as read
    file: str = ""
    line: str = ""
    function: str = ""
    code: str = ""

    @property
    def where(self) -> str:
        """``file:line in function``: what a site is."""
        return f"{self.file}:{self.line} in {self.function}" if self.file else self.text


def parse_frame(text: str) -> Frame:
    match = _FRAME.match(text)
    if match is None:
        return Frame(text)
    return Frame(text, match["file"], match["line"], match["function"], match["code"] or "")


def short_file(path: str, parts: int = 2) -> str:
    """The last ``parts`` parts of a path: enough to recognise the file in a cell."""
    return "/".join(path.replace("\\", "/").split("/")[-parts:])


def short_site(site: str, parts: int = 2) -> str:
    """``examples/starlette_app.py:41 in blocking`` for ``/srv/app/examples/starlette_app.py:41
    in blocking`` (``parts=1``: ``starlette_app.py:41 in blocking``); the full path is in the
    stack panel."""
    frame = parse_frame(site)
    if not frame.file:
        return site
    return f"{short_file(frame.file, parts)}:{frame.line} in {frame.function}"


def is_site_frame(frame: str, site: str) -> bool:
    """Whether ``frame`` is the line ``site`` names (the site is the frame without its code)."""
    return bool(site) and (frame == site or parse_frame(frame).where == site)


def site_index(stack: tuple[str, ...], site: str) -> int | None:
    """Where in ``stack`` (innermost last) the site is: the innermost frame naming it, else the
    innermost frame; None for an empty stack."""
    for index in range(len(stack) - 1, -1, -1):
        if is_site_frame(stack[index], site):
            return index
    return len(stack) - 1 if stack else None


def sorted_sites(figures: Iterable[SourceFigures], route_filter: str = "") -> list[SiteRow]:
    """Every source's sites whose route contains ``route_filter``, the most time held first."""
    wanted = route_filter.lower()
    rows = [row for source in figures for row in source.sites if wanted in row.route.lower()]
    rows.sort(key=lambda row: (-row.total, -row.count, row.route, row.site, row.source))
    return rows


@dataclass(frozen=True)
class BlockTotals:
    """What the note says: blocks and time held over the rows shown."""

    blocks: int
    held: float
    sites: int
    routes: int


def block_totals(rows: Iterable[SiteRow]) -> BlockTotals:
    listed = list(rows)
    return BlockTotals(
        blocks=sum(row.count for row in listed),
        held=sum(row.total for row in listed),
        sites=sum(1 for row in listed if row.site),
        routes=len({(row.source, row.route) for row in listed}),
    )


def loop_sources(figures: Iterable[SourceFigures]) -> list[SourceFigures]:
    """The sources with an event loop (an ASGI interface, or blocks counted): whose span the
    tab's figures are over; a WSGI-only source has none to tell."""
    listed = list(figures)
    looped = [
        source for source in listed if source.sites or any(s.interface == "asgi" for s in source.interfaces)
    ]
    return looped or listed


def worst_lag(figures: Iterable[SourceFigures]) -> float | None:
    """The highest loop-lag p99 of any ASGI interface over the span (None when none says)."""
    values = [
        stats.lag_p99
        for source in figures
        for stats in source.interfaces
        if stats.interface == "asgi" and stats.lag_p99 is not None
    ]
    return max(values, default=None)


def ago_text(value: float | None) -> str:
    """``0.4 s ago``, ``12 s ago``, ``3 min ago``, ``2 h ago``; ``-`` when never."""
    if value is None:
        return "-"
    value = max(value, 0.0)
    if value < 10:
        return f"{value:.1f} s ago"
    if value < 60:
        return f"{value:.0f} s ago"
    if value < 3600:
        return f"{value // 60:.0f} min ago"
    return f"{value // 3600:.0f} h ago"
