"""Loop blocks per route and site since the live state began: how many, how long in all, the
worst, the last few, and the last stack read there (:class:`~gatewatch.export.live.schema.BlockSite`).

A site is where in the application the loop was held: the application's innermost frame of the
stack read (:attr:`gatewatch.asgi._stack_capture.ReadStack.site`). Sites are bounded per process;
blocks at a site past the bound count under their route's :data:`OTHER_SITES`, so that a
route's count and total stay those of ``gatewatch_event_loop_blocks_total`` and
``gatewatch_event_loop_blocked_seconds_total``.
"""

from __future__ import annotations

import functools
from collections import deque

from gatewatch import _measure as m
from gatewatch.export.live._fragments import Chunk, ChunkedParts
from gatewatch.export.live.schema import BlockSite

MAX_SITES = 100
OTHER_SITES = "(other sites)"
RECENT_PER_SITE = 16

_LOOP_BLOCKS = m.SLOT["loop_blocks"]
_LOOP_BLOCKED = m.SLOT["loop_blocked"]


class _Site:
    __slots__ = ("count", "last_at", "outer", "recent", "stack", "total", "worst")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.worst = 0.0
        self.last_at = 0.0
        self.recent: deque[tuple[float, float]] = deque(maxlen=RECENT_PER_SITE)
        self.stack: tuple[str, ...] = ()
        self.outer: tuple[str, ...] = ()


class BlockSites:
    """The sites of one live state; every method runs under its lock but :meth:`array` (under
    its build lock, on what :meth:`take` returned)."""

    def __init__(self) -> None:
        self._sites: dict[tuple[str, str], _Site] = {}
        self._listed = 0
        # Blocks counted under OTHER_SITES.
        self.unlisted = 0
        self._parts = ChunkedParts()

    def add(
        self,
        route: str,
        duration: float,
        at: float,
        site: str,
        stack: tuple[str, ...],
        outer: tuple[str, ...],
    ) -> None:
        """A block of ``route`` at ``site``, as the Prometheus export measures it."""
        count, seconds = 0, 0.0
        for slot, _labels, value in m.measure_block(route, duration):
            if slot == _LOOP_BLOCKS and value is not None:
                count += int(value)
            elif slot == _LOOP_BLOCKED and value is not None:
                seconds += value
        key = (route, site)
        found = self._sites.get(key)
        if found is None:
            if self._listed >= MAX_SITES:
                self.unlisted += count
                key = (route, OTHER_SITES)
                found = self._sites.get(key)
            else:
                self._listed += 1
            if found is None:
                found = self._sites[key] = _Site()
        found.count += count
        found.total += seconds
        if seconds > found.worst:
            found.worst = seconds
        found.last_at = at
        found.recent.append((at, seconds))
        if stack or outer or not found.stack:
            # The last stack read here (a block too short to read one keeps the previous).
            found.stack, found.outer = stack, outer

    def take(self) -> list[Chunk]:
        """The sites in the order first seen, each described now if it changed."""
        parts = self._parts
        return [
            parts.taken(key, site.count, functools.partial(_describe, key, site))
            for key, site in self._sites.items()
        ]

    def array(self, taken: list[Chunk]) -> bytes:
        return self._parts.array(taken)


def _describe(key: tuple[str, str], found: _Site) -> list[object]:
    route, site = key
    described: BlockSite = {
        "route": route,
        "site": site,
        "count": found.count,
        "total": found.total,
        "worst": found.worst,
        "last_at": found.last_at,
        "recent": [[at, seconds] for at, seconds in found.recent],
        "stack": list(found.stack),
        "outer_stack": list(found.outer),
    }
    return [described]
