"""Every figure of a view over one window, from the readings each source gave.

A :class:`ReadingLog` keeps, per source, the cumulative counters of its readings for the
longest window and a margin (bounded in count: readings closer than :data:`MIN_GAP` replace
each other), and :meth:`ReadingLog.figures` cuts a window out of them: the difference between
the last reading and the first one at or before the window's start, per process, summed over
the processes. Every time comes from the readings (``Reading.at``), never from this machine's
clock, so that recorded sources give the same figures every run.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gatewatch.export.prometheus.scrape_summary import histogram_quantile
from gatewatch_dashboard._counter_deltas import Buckets, RouteSum, Sums, minus, restarted, shared, summed
from gatewatch_dashboard._literal import plain
from gatewatch_dashboard.counters import STATUS_CLASSES, ProcessCounters
from gatewatch_dashboard.figures import WINDOWS, SiteRow, SourceFigures, Span, Timeline, Window, duration_text
from gatewatch_dashboard.model import InterfaceStats, Reading, RouteRow, WorkerRow, ratio

KEEP_SECONDS = max(window.seconds or 0.0 for window in WINDOWS) + 30.0
MIN_GAP = 0.4
TIMELINE_POINTS = 120


@dataclass(frozen=True)
class _Step:
    """What one source counted between two kept readings, per interface: a timeline's step."""

    start: float
    end: float
    statuses: dict[str, dict[str, float]]  # interface -> status class -> requests
    buckets: dict[str, Buckets]  # interface -> duration buckets
    lag: Buckets
    busy: dict[str, int | None]  # interface -> WSGI threads busy at ``end``


@dataclass(frozen=True)
class _Kept:
    at: float
    counters: dict[str, ProcessCounters]  # process key -> its counters
    step: _Step | None  # since the kept reading before it


def _quantile(q: float, buckets: Buckets) -> float | None:
    return histogram_quantile(q, buckets.items()) if buckets else None


class ReadingLog:
    """The readings of every source, kept for :data:`KEEP_SECONDS` (per the readings' clock)."""

    def __init__(self, keep_seconds: float = KEEP_SECONDS, min_gap: float = MIN_GAP) -> None:
        self.keep_seconds = keep_seconds
        self.min_gap = min_gap
        self.max_kept = math.ceil(keep_seconds / min_gap) + 2
        self._kept: dict[str, deque[_Kept]] = {}

    def kept(self, source: str) -> int:
        return len(self._kept.get(source, ()))

    def add(self, reading: Reading) -> None:
        """Keep what ``reading`` counted (a failed poll, or the same answer again, adds nothing)."""
        if reading.error is not None or not reading.counters:
            return
        at = reading.at if reading.at is not None else max(one.at for one in reading.counters)
        kept = self._kept.setdefault(reading.source, deque())
        if kept and at <= kept[-1].at:
            if at == kept[-1].at:
                return
            kept.clear()  # the source's clock went back: what was kept no longer lines up
        if len(kept) >= 2 and kept[-1].at - kept[-2].at < self.min_gap:
            kept.pop()  # too close to the one before it: the new reading takes its place
        previous = kept[-1] if kept else None
        counters = {one.key: one for one in reading.counters}
        if previous is not None:
            counters = {key: shared(one, previous.counters.get(key)) for key, one in counters.items()}
        busy = {stats.interface: stats.busy for stats in reading.interfaces}
        step = None if previous is None else _step(previous, counters, at, busy)
        kept.append(_Kept(at, counters, step))
        while len(kept) > self.max_kept or (len(kept) > 2 and kept[1].at <= at - self.keep_seconds):
            kept.popleft()

    def figures(self, readings: Sequence[Reading], window: Window) -> tuple[SourceFigures, ...]:
        """One :class:`SourceFigures` per reading (the latest of each source), over ``window``."""
        return tuple(self.source_figures(reading, window) for reading in readings)

    def source_figures(self, reading: Reading, window: Window) -> SourceFigures:
        kept = self._kept.get(reading.source)
        if not kept:
            # No counters (yet): what the source computed itself, if anything, its window unknown.
            return SourceFigures(
                source=reading.source,
                kind=reading.kind,
                span=Span(window, 0.0, False, known=not (reading.interfaces or reading.routes)),
                error=reading.error,
                interfaces=reading.interfaces,
                routes=reading.routes,
                workers=reading.workers,
            )
        last = kept[-1]
        if window.seconds is None:
            deltas = dict(last.counters)
            starts = [one.started for one in deltas.values()]
            known = bool(starts) and all(start is not None for start in starts)
            seconds = last.at - min(start for start in starts if start is not None) if known else 0.0
            span = Span(window, max(seconds, 0.0), True, known=known)
            since = kept[0].at
        else:
            deltas, since = _window_deltas(kept, last.at - window.seconds)
            seconds = last.at - since
            span = Span(window, seconds, seconds >= window.seconds)
        sums = summed(list(deltas.values()))
        per_second = seconds if span.known and seconds > 0 else None
        interfaces = _interfaces(reading, sums, per_second)
        steps = [
            k.step
            for k in kept
            if k.step is not None and k.step.start >= since and k.step.start >= kept[0].at
        ]
        return SourceFigures(
            source=reading.source,
            kind=reading.kind,
            span=span,
            error=reading.error,
            interfaces=interfaces,
            routes=_routes(reading.source, sums, per_second),
            sites=_sites(reading.source, sums, last.at, None if window.seconds is None else since),
            sessions={key: value for key, value in sums.sessions.items() if value.sessions > 0},
            timelines={stats.interface: _timeline(steps, stats, last.at) for stats in interfaces},
            workers=tuple(_worker(row, deltas.get(str(row.pid))) for row in reading.workers),
        )


def spans_text(figures: Sequence[SourceFigures]) -> str:
    """What the figures of several sources cover, in one line: their span when they agree, else
    the window and each source's part of it (``since start (5 min 30 s on a, 10 min on b)``)."""
    texts = list(dict.fromkeys(one.span.text() for one in figures))
    if len(texts) <= 1:
        return texts[0] if texts else ""
    window = figures[0].span.window
    parts = []
    for one in figures:
        span = one.span
        if not span.known or (span.complete and span.text() == window.label):
            continue
        covered = duration_text(span.seconds)
        if window.seconds is not None:
            covered = f"over {covered}" if span.complete else f"{covered} so far"
        parts.append(f"{covered} on {plain(one.source)}")
    return f"{window.label} ({', '.join(parts)})" if parts else window.label


def _window_deltas(kept: deque[_Kept], start: float) -> tuple[dict[str, ProcessCounters], float]:
    """Per process of the last reading, what it counted since ``start`` (or since it was first
    read, when the readings do not go back that far), and when the earliest of them begins."""
    last = kept[-1]
    ats = [one.at for one in kept]
    at_start = bisect.bisect_right(ats, start) - 1
    deltas: dict[str, ProcessCounters] = {}
    since = last.at
    for key, now in last.counters.items():
        base, base_at = _baseline(kept, at_start, key, now)
        if now.started is not None and now.started >= start:
            # Started inside the window: everything it counted is in the window.
            deltas[key], base_at = now, now.started
        else:
            deltas[key] = minus(now, now if base is None else base)
        since = min(since, base_at)
    return deltas, since


def _baseline(
    kept: deque[_Kept], at_start: int, key: str, now: ProcessCounters
) -> tuple[ProcessCounters | None, float]:
    """The reading of process ``key`` at or before the window's start, else its earliest kept."""
    if at_start >= 0:
        found = kept[at_start].counters.get(key)
        if found is not None and not restarted(now, found):
            return found, kept[at_start].at
    for index in range(max(at_start + 1, 0), len(kept)):
        found = kept[index].counters.get(key)
        if found is not None and not restarted(now, found):
            return found, kept[index].at
    return None, now.at


def _step(
    previous: _Kept, counters: dict[str, ProcessCounters], at: float, busy: dict[str, int | None]
) -> _Step:
    deltas = []
    for key, one in counters.items():
        before = previous.counters.get(key)
        if before is None and (one.started is None or one.started < previous.at):
            continue  # running before, not read then: what it counted is not this step's
        deltas.append(minus(one, before))
    sums = summed(deltas)
    names = {interface for interface, _ in sums.routes}
    totals = {name: sums.interface(name) for name in names}
    return _Step(
        start=previous.at,
        end=at,
        statuses={name: total.statuses for name, total in totals.items()},
        buckets={name: total.buckets for name, total in totals.items()},
        lag=sums.lag,
        busy=busy,
    )


def _interfaces(reading: Reading, sums: Sums, per_second: float | None) -> tuple[InterfaceStats, ...]:
    gauges = {stats.interface: stats for stats in reading.interfaces}
    counted = {interface for interface, _ in sums.routes} | set(sums.interfaces)
    names = list(gauges) + sorted(counted - set(gauges))
    result = []
    for name in names:
        base = gauges.get(name) or InterfaceStats(interface=name, server="?", processes=0)
        total = sums.interface(name)
        means = sums.interfaces.get(name)
        asgi = name == "asgi"
        result.append(
            replace(
                base,
                rate=None if per_second is None else total.requests / per_second,
                p50=_quantile(0.5, total.buckets),
                p95=_quantile(0.95, total.buckets),
                p99=_quantile(0.99, total.buckets),
                error_rate=ratio(total.statuses.get("5xx", 0.0), total.requests),
                concurrency=None if means is None else ratio(means.concurrency_sum, means.concurrency_count),
                blocking_share=ratio(total.blocking_sum, total.duration_sum),
                lag_p99=_quantile(0.99, sums.lag) if asgi else None,
                after_response=None
                if means is None
                else ratio(means.after_response_sum, means.after_response_count),
                queue=None if means is None else ratio(means.queue_sum, means.queue_count),
                saturated=None if means is None or name != "wsgi" else round(means.saturated),
            )
        )
    return tuple(result)


def _routes(source: str, sums: Sums, per_second: float | None) -> tuple[RouteRow, ...]:
    rows = [
        _route_row(source, interface, route, total, per_second)
        for (interface, route), total in sums.routes.items()
        if total.requests > 0
    ]
    rows.sort(key=lambda row: (row.interface, row.route))
    return tuple(rows)


def _route_row(
    source: str, interface: str, route: str, total: RouteSum, per_second: float | None
) -> RouteRow:
    return RouteRow(
        source=source,
        interface=interface,
        route=route,
        requests=round(total.requests),
        rate=None if per_second is None else total.requests / per_second,
        p50=_quantile(0.5, total.buckets),
        p95=_quantile(0.95, total.buckets),
        p99=_quantile(0.99, total.buckets),
        blocking=ratio(total.blocking_sum, total.requests),
        cpu=ratio(total.cpu_sum, total.cpu_samples),
        offload=ratio(total.offload_sum, total.requests) if total.offload_sum > 0 else None,
        errors=round(total.statuses.get("5xx", 0.0)),
    )


def _sites(source: str, sums: Sums, now: float, since: float | None) -> tuple[SiteRow, ...]:
    """Loop blocks per route and site in the span (``since`` None: since each process started,
    the worst being the one each process kept since then)."""
    rows = []
    for (route, site), counted in sums.sites.items():
        if counted.count <= 0:
            continue
        if since is None:
            worst, at_least = counted.worst, False
        else:
            inside = [seconds for at, seconds in counted.recent if at > since]
            worst, at_least = max(inside, default=0.0), counted.count > len(inside)
        rows.append(
            SiteRow(
                source=source,
                route=route,
                site=site,
                count=round(counted.count),
                total=counted.total,
                worst=worst,
                worst_at_least=at_least,
                last_seen_ago=None if counted.last_at is None else max(now - counted.last_at, 0.0),
                stack=counted.stack,
                outer_stack=counted.outer_stack,
            )
        )
    rows.sort(key=lambda row: (-row.total, row.route, row.site))
    return tuple(rows)


def _timeline(steps: Sequence[_Step], stats: InterfaceStats, now: float) -> Timeline:
    """The steps of the span in at most :data:`TIMELINE_POINTS` points, oldest first."""
    name = stats.interface
    size = max(1, math.ceil(len(steps) / TIMELINE_POINTS))
    groups = [steps[index : index + size] for index in range(0, len(steps), size)]
    ago, p50, p95, p99, lag, busy = [], [], [], [], [], []
    rates: dict[str, list[float]] = {kind: [] for kind in STATUS_CLASSES}
    for group in groups:
        seconds = group[-1].end - group[0].start
        statuses: dict[str, float] = {}
        buckets: Buckets = {}
        lags: Buckets = {}
        for step in group:
            for kind, count in step.statuses.get(name, {}).items():
                statuses[kind] = statuses.get(kind, 0.0) + count
            for bound, count in step.buckets.get(name, {}).items():
                buckets[bound] = buckets.get(bound, 0.0) + count
            for bound, count in step.lag.items():
                lags[bound] = lags.get(bound, 0.0) + count
        ago.append(now - group[-1].end)
        for kind, values in rates.items():
            values.append(statuses.get(kind, 0.0) / seconds if seconds > 0 else 0.0)
        p50.append(_quantile(0.5, buckets))
        p95.append(_quantile(0.95, buckets))
        p99.append(_quantile(0.99, buckets))
        lag.append(_quantile(0.99, lags) if name == "asgi" else None)
        readings = [step.busy.get(name) for step in group]
        busy.append(max((value for value in readings if value is not None), default=None))
    return Timeline(
        ago=tuple(ago),
        rate_by_status={kind: tuple(values) for kind, values in rates.items()},
        p50=tuple(p50),
        p95=tuple(p95),
        p99=tuple(p99),
        lag_p99=tuple(lag),
        busy=tuple(busy),
        capacity=stats.capacity,
    )


def _worker(row: WorkerRow, counted: ProcessCounters | None) -> WorkerRow:
    """A process's workers now, with its saturations and queue time over the span (unknown
    when the source does not count them per process: its total is the interface's)."""
    wsgi = None if counted is None else counted.interfaces.get("wsgi")
    if wsgi is None:
        return replace(row, saturated=None)
    return replace(row, saturated=round(wsgi.saturated), queue=ratio(wsgi.queue_sum, wsgi.queue_count))
