"""What one process counted since its live state began (:class:`~gatewatch.export.live.schema.Totals`):
requests per interface, route and status with their duration buckets, the per-route blocking,
CPU and offload sums, per-interface sums and counts, loop lag, loop blocks per site and WebSocket
sessions, the very numbers its ``/metrics`` families hold for the same labels.

They are added from the measurements of :mod:`gatewatch._measure` (what the Prometheus export
adds up, with the same buckets), a batch of records at a time under the live state's lock,
never on a request's path. Their JSON is kept in chunks
(:class:`~gatewatch.export.live._fragments.ChunkedParts`) encoded again only when one of their
numbers changed: a poll of a process with a thousand routes encodes the routes that served
requests since the last one.
"""

from __future__ import annotations

import functools
import os
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import repeat
from time import time
from typing import cast

from gatewatch import _measure as m
from gatewatch import catalogue as c
from gatewatch._histogram import HistogramChoice, add_values, new_series
from gatewatch._processes import process_started
from gatewatch.export.live._block_sites import BlockSites
from gatewatch.export.live._fragments import Chunk, ChunkedParts, encode
from gatewatch.export.live._session_counts import SessionTotals
from gatewatch.export.live.schema import InterfaceCounts, RouteCounts, Totals
from gatewatch.record import RequestRecord

# Lines of a stack kept (LoopBlock.stack's bound): the innermost ones; the outermost of the frames above.
MAX_STACK_LINES = 200
MAX_OUTER_LINES = 100
# Routes (interface, route and status) per encoded chunk.
ROUTES_PER_CHUNK = 8

RouteKey = tuple[str, str, str]  # interface, route label, status label

_DURATION = m.REQUEST_SERIES.index(m.SLOT["duration"])
_AFTER_RESPONSE = m.REQUEST_SERIES.index(m.SLOT["after_response"])
_CONCURRENCY = m.REQUEST_SERIES.index(m.SLOT["concurrency"])
_ROUTE_BLOCKING = m.REQUEST_SERIES.index(m.SLOT["route_blocking"])
_ROUTE_CPU = m.REQUEST_SERIES.index(m.SLOT["route_cpu"])
_ROUTE_CPU_SAMPLES = m.REQUEST_SERIES.index(m.SLOT["route_cpu_samples"])
_ROUTE_OFFLOAD = m.SLOT["route_offload"]
_QUEUE = m.SLOT["queue"]
_SATURATED = m.SLOT["saturated"]


def histogram_bounds(histograms: HistogramChoice, key: str) -> tuple[float, ...]:
    """The buckets family ``key`` has on this process's /metrics; the catalogue's when it is not
    exported there (the live view still has the distribution)."""
    bounds = histograms.bounds(key)
    return c.metric(key).buckets if bounds is None else bounds


class _Route:
    __slots__ = ("blocking", "chunk", "cpu", "cpu_samples", "offload", "series")

    def __init__(self, bounds: tuple[float, ...], chunk: int) -> None:
        self.series = new_series(bounds)  # buckets, +Inf, the sum of the durations
        self.blocking = 0.0
        self.cpu = 0.0
        self.cpu_samples = 0
        self.offload = 0.0
        self.chunk = chunk


class _Interface:
    __slots__ = (
        "after_count",
        "after_sum",
        "concurrency_count",
        "concurrency_sum",
        "queue_count",
        "queue_sum",
        "saturated",
    )

    def __init__(self) -> None:
        self.concurrency_sum = 0.0
        self.concurrency_count = 0
        self.queue_sum = 0.0
        self.queue_count = 0
        self.after_sum = 0.0
        self.after_count = 0
        self.saturated = 0


class ProcessTotals:
    """The cumulative counts of one live state. Every method but :meth:`encode` runs under the
    state's lock; :meth:`encode` under its build lock, on what :meth:`take` returned."""

    def __init__(self, histograms: HistogramChoice) -> None:
        # When the process started, as /metrics' process_start_time_seconds says: what a rate
        # "since start" divides by, the same for both sources. The counts begin with the
        # monitor, before the first request (the time this state was made, without /proc).
        self.started = process_started(os.getpid()) or time()
        self.duration_bounds = histogram_bounds(histograms, "duration")
        self.lag_bounds = histogram_bounds(histograms, "loop_lag")
        self._routes: dict[RouteKey, _Route] = {}
        self._route_chunks: list[list[tuple[RouteKey, _Route]]] = []
        self._route_versions: list[int] = []
        self._interfaces: dict[str, _Interface] = {}
        self._lag = new_series(self.lag_bounds)
        self.sites = BlockSites()
        self.sessions = SessionTotals()
        self._route_parts = ChunkedParts()

    # -- adding (under the live state's lock) -----------------------------------------------

    def add_requests(
        self,
        records: Sequence[RequestRecord],
        worker_threads: int | None,
        report: Callable[[Exception], None],
    ) -> None:
        """Add finished requests, measured as the Prometheus export measures them."""
        measure = m.measure_request
        try:
            measured = list(map(measure, records, repeat(worker_threads)))
        except Exception:  # noqa: BLE001 - measured again one at a time, the bad one reported
            measured = []
            for record in records:
                try:
                    measured.append(measure(record, worker_threads))
                except Exception as exc:  # noqa: BLE001
                    report(exc)
        # By the measurement's own key (methods apart): no key of ours built per record.
        rows: dict[m.Key, list[tuple[float | None, ...]]] = {}
        for key, values, extras in measured:
            same = rows.get(key)
            if same is None:
                rows[key] = [values]
            else:
                same.append(values)
            if extras is not None:
                try:
                    self._add_extras((key[0], key[2], key[3]), extras)
                except Exception as exc:  # noqa: BLE001
                    report(exc)
        for key, same in rows.items():
            try:
                self._add_rows((key[0], key[2], key[3]), same)
            except Exception as exc:  # noqa: BLE001
                report(exc)

    def _route(self, key: RouteKey) -> _Route:
        route = self._routes.get(key)
        if route is None:
            chunks = self._route_chunks
            if not chunks or len(chunks[-1]) >= ROUTES_PER_CHUNK:
                chunks.append([])
                self._route_versions.append(0)
            route = self._routes[key] = _Route(self.duration_bounds, len(chunks) - 1)
            chunks[-1].append((key, route))
        return route

    def _interface(self, interface: str) -> _Interface:
        found = self._interfaces.get(interface)
        if found is None:
            found = self._interfaces[interface] = _Interface()
        return found

    def _add_rows(self, key: RouteKey, rows: list[tuple[float | None, ...]]) -> None:
        # A key's values a column at a time, the bucket search and the sums in C, as the
        # Prometheus aggregator adds them up.
        route = self._route(key)
        columns = list(zip(*rows))  # noqa: B905 - the rows all have one length
        durations = cast("tuple[float, ...]", columns[_DURATION])
        add_values(route.series, self.duration_bounds, durations)
        route.blocking = sum(cast("tuple[float, ...]", columns[_ROUTE_BLOCKING]), route.blocking)
        # Values not measured (None) are left out; so are zeros, which add nothing to a sum:
        # filter(None, ...) drops both without a call per value.
        route.cpu = sum(filter(None, columns[_ROUTE_CPU]), route.cpu)
        route.cpu_samples += int(sum(filter(None, columns[_ROUTE_CPU_SAMPLES])))
        interface = self._interface(key[0])
        concurrency = cast("tuple[float, ...]", columns[_CONCURRENCY])
        interface.concurrency_sum = sum(concurrency, interface.concurrency_sum)
        interface.concurrency_count += len(concurrency)
        after = columns[_AFTER_RESPONSE]
        interface.after_sum = sum(filter(None, after), interface.after_sum)
        interface.after_count += len(after) - after.count(None)
        self._route_versions[route.chunk] += 1

    def _add_extras(self, key: RouteKey, extras: list[m.Extra]) -> None:
        for slot, _labels, value in extras:
            if value is None:
                continue
            if slot == _ROUTE_OFFLOAD:
                self._route(key).offload += value
            elif slot == _QUEUE:
                interface = self._interface(key[0])
                interface.queue_sum += value
                interface.queue_count += 1
            elif slot == _SATURATED:
                self._interface(key[0]).saturated += int(value)

    def add_lag(self, seconds: float) -> None:
        bounds, lag = self.lag_bounds, self._lag
        for _slot, _labels, value in m.measure_lag(seconds):
            if value is not None:
                lag[bisect_left(bounds, value)] += 1
                lag[-1] += value

    # -- the JSON ---------------------------------------------------------------------------

    def take(self) -> Taken:
        """Under the lock: the numbers as they are now, the parts described only where they
        changed since the last encoding (one build at a time: the caller's build lock)."""
        parts = self._route_parts
        routes = [
            parts.taken(index, version, functools.partial(_describe_routes, chunk))
            for index, (version, chunk) in enumerate(
                zip(self._route_versions, self._route_chunks, strict=True)
            )
        ]
        lag = self._lag
        interfaces = sorted(self._interfaces.items())
        head: Totals = {
            "started": self.started,
            "duration_bounds": list(self.duration_bounds),
            "interfaces": [_describe_interface(name, found) for name, found in interfaces],
            "lag_bounds": list(self.lag_bounds),
            "lag_buckets": [int(count) for count in lag[:-1]],
            "lag_sum": lag[-1],
            "lag_count": int(sum(lag[:-1])),
            "block_sites_unlisted": self.sites.unlisted,
            # The arrays kept in parts are joined in by encode(), in this order, last.
            "block_sites": [],
            "sessions": [],
            "routes": [],
        }
        return Taken(head, routes, self.sites.take(), self.sessions.take())

    def encode(self, taken: Taken) -> bytes:
        """The totals as JSON: the head encoded, the parts' arrays joined from what is kept."""
        encoded = encode(taken.head)
        if not encoded.endswith(_EMPTY_TAIL):
            raise RuntimeError("the totals' joined parts must be their last fields")
        return b"".join(
            (
                encoded[: -len(_EMPTY_TAIL)],
                b',"block_sites":',
                self.sites.array(taken.sites),
                b',"sessions":',
                self.sessions.array(taken.sessions),
                b',"routes":',
                self._route_parts.array(taken.routes),
                b"}",
            )
        )


_EMPTY_TAIL = b',"block_sites":[],"sessions":[],"routes":[]}'


class Taken:
    """The totals as taken under the lock, to be encoded after it."""

    __slots__ = ("head", "routes", "sessions", "sites")

    def __init__(self, head: Totals, routes: list[Chunk], sites: list[Chunk], sessions: list[Chunk]) -> None:
        self.head = head
        self.routes = routes
        self.sites = sites
        self.sessions = sessions


def _describe_routes(chunk: list[tuple[RouteKey, _Route]]) -> list[object]:
    described: list[object] = []
    for (interface, route, status), found in chunk:
        buckets = [int(count) for count in found.series[:-1]]
        counts: RouteCounts = {
            "interface": interface,
            "route": route,
            "status": status,
            "requests": sum(buckets),
            "duration_sum": found.series[-1],
            "duration_buckets": buckets,
            "blocking_sum": found.blocking,
            "cpu_sum": found.cpu,
            "cpu_samples": found.cpu_samples,
            "offload_sum": found.offload,
        }
        described.append(counts)
    return described


def _describe_interface(name: str, found: _Interface) -> InterfaceCounts:
    return {
        "interface": name,
        "concurrency_sum": found.concurrency_sum,
        "concurrency_count": found.concurrency_count,
        "queue_sum": found.queue_sum,
        "queue_count": found.queue_count,
        "after_response_sum": found.after_sum,
        "after_response_count": found.after_count,
        "saturated": found.saturated,
    }
