"""A ``/metrics`` page read as the dashboard's source: its cumulative counters, as the page
holds them, and its gauges now.

The page is one process (or, in multiprocess mode, one server whose workers' counts the page
sums): one :class:`~gatewatch_dashboard.counters.ProcessCounters` keyed ``"page"``. Windows are
cut by the dashboard from successive readings, so every figure of a view covers one span and a
total since start is the page's own number.
"""

from __future__ import annotations

import time

from gatewatch.export.prometheus.scrape_summary import parse
from gatewatch_dashboard.exposition_counters import (
    interfaces_now,
    is_gatewatch,
    process_counters,
    worker_rows,
)
from gatewatch_dashboard.http_source import HTTPSource
from gatewatch_dashboard.model import Reading

PAGE = "page"


class NotGatewatch(ValueError):
    """The page answered, but holds none of gatewatch's series."""


class MetricsSource(HTTPSource):
    """A ``/metrics`` page: every tab that counters and gauges can fill (Overview, Routes,
    Blocking by route, WebSockets, Workers); not what only a live view has (requests in
    flight one by one, stacks)."""

    kind = "metrics"

    async def _fetch(self) -> Reading:
        response = await self._get(self.url)
        return self.reading_from(response.text, time.time())

    def reading_from(self, text: str, at: float) -> Reading:
        """The reading of one page's ``text``, read at ``at`` (wall clock)."""
        try:
            samples = parse(text)
        except ValueError as exc:  # an HTML page, a JSON document...
            raise NotGatewatch(f"not a /metrics page ({str(exc)[:80]})") from None
        if not is_gatewatch(samples):
            raise NotGatewatch("not a gatewatch page: none of gatewatch's metrics on it")
        workers = worker_rows(self.name, samples)
        return Reading(
            source=self.name,
            kind=self.kind,
            interfaces=interfaces_now(samples, server="/metrics", processes=max(1, len(workers))),
            workers=workers,
            counters=(process_counters(PAGE, at, samples),),
            at=at,
        )
