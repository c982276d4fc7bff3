"""A Prometheus server read as the dashboard's source (the fleet view): every instance's
cumulative counters and gauges, through PromQL from :mod:`gatewatch.queries`.

Each instance it scrapes is one :class:`~gatewatch_dashboard.counters.ProcessCounters` (keyed by
its ``instance`` label) holding the numbers its ``/metrics`` page held at the last scrape; the
dashboard cuts windows from successive readings, as for any source. Every query of a reading is
evaluated at the same instant, so the counters of one reading agree with each other.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from typing import Any, NamedTuple

from gatewatch.queries import fleet, fleet_series
from gatewatch_dashboard.exposition_counters import (
    Series,
    interfaces_now,
    is_gatewatch,
    process_counters,
    worker_rows,
)
from gatewatch_dashboard.http_source import HTTPSource, label_of
from gatewatch_dashboard.model import InterfaceStats, Reading, WorkerRow

INSTANCE = "instance"
# What the fleet view reads: series name -> PromQL, shared with the Grafana tests.
SERIES: dict[str, str] = fleet_series(INSTANCE)
# Queries in flight at once: enough to read a poll in a few round trips, not a burst.
CONCURRENCY = 6
# The rates of the fleet's Overview as the Grafana boards chart them (over WINDOW).
WINDOW = "1m"
QUERIES: dict[str, str] = fleet(WINDOW)


class Sample(NamedTuple):
    name: str
    labels: dict[str, str]
    value: float


def _number(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return None if math.isnan(number) else number


def vector(name: str, body: object) -> list[Sample]:
    """The samples of an instant vector a query API answered, named ``name``."""
    if not isinstance(body, dict) or body.get("status") != "success":
        raise ValueError(f"Prometheus answered {str(body)[:120]}")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise ValueError("Prometheus answered something other than an instant vector")
    found = []
    for item in data.get("result", []):
        if isinstance(item, dict) and isinstance(item.get("metric"), dict):
            value = item.get("value")
            number = _number(value[1]) if isinstance(value, list) and len(value) == 2 else None
            if number is not None:
                labels = {str(k): str(v) for k, v in item["metric"].items()}
                found.append(Sample(name, labels, number))
    return found


class PrometheusSource(HTTPSource):
    """A Prometheus server's query API: every instance it scrapes, side by side."""

    kind = "prometheus"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url.rstrip("/"), **kwargs)
        self.name = f"prometheus {label_of(url)}"

    async def _fetch(self) -> Reading:
        at = time.time()
        limit = asyncio.Semaphore(CONCURRENCY)

        async def query(name: str, expr: str) -> list[Sample]:
            async with limit:
                response = await self._get(self.url + "/api/v1/query", query=expr, time=f"{at:.3f}")
            return vector(name, response.json())

        answers = await asyncio.gather(*(query(name, expr) for name, expr in SERIES.items()))
        return self.reading_from([sample for answer in answers for sample in answer], at)

    def reading_from(self, samples: list[Sample], at: float) -> Reading:
        """The reading of every instance in ``samples`` (as :data:`SERIES` answered them)."""
        by_instance: dict[str, list[Series]] = defaultdict(list)
        for sample in samples:
            by_instance[sample.labels.get(INSTANCE, "")].append(sample)
        instances = {key: found for key, found in sorted(by_instance.items()) if is_gatewatch(found)}
        if not instances:
            raise ValueError("no gatewatch series in Prometheus (yet): is it scraping a gatewatch app?")
        counters = tuple(process_counters(key, at, found) for key, found in instances.items())
        workers: list[WorkerRow] = []
        per_instance: list[InterfaceStats] = []
        for key, found in instances.items():
            workers += worker_rows(key, found)
            per_instance += interfaces_now(found, server="PromQL", processes=1)
        return Reading(
            source=self.name,
            kind=self.kind,
            interfaces=_fleet(per_instance),
            workers=tuple(workers),
            counters=counters,
            at=at,
        )


def _fleet(per_instance: list[InterfaceStats]) -> tuple[InterfaceStats, ...]:
    """Each interface over every instance: in flight and WSGI threads summed, instances counted."""
    by_interface: dict[str, list[InterfaceStats]] = defaultdict(list)
    for stats in per_instance:
        by_interface[stats.interface].append(stats)

    def total(values: list[int | None]) -> int | None:
        known = [value for value in values if value is not None]
        return sum(known) if known else None

    return tuple(
        InterfaceStats(
            interface=interface,
            server=", ".join(sorted({s.server for s in group})),
            processes=len(group),
            in_flight=total([s.in_flight for s in group]),
            busy=total([s.busy for s in group]),
            capacity=total([s.capacity for s in group]) or None,
        )
        for interface, group in sorted(by_interface.items())
    )
