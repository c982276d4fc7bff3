"""Where the dashboard's numbers come from: a live endpoint, the local snapshot directory, a
``/metrics`` page, a Prometheus server, or (tests, screenshots) recorded live views.

Every source's :meth:`Source.read` returns a :class:`~gatewatch_dashboard.model.Reading` and
never raises: a source that cannot be reached, or answers something that is not what it should
be, gives the last good reading with ``error`` set, and is asked again at the next poll.
The live view is read only through :func:`gatewatch.export.live.schema.parse_live_view`.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from prometheus_client.samples import Sample

from gatewatch.export.live.local_dir import mark_read, read_dir
from gatewatch.export.live.schema import parse_live_view
from gatewatch.export.prometheus.scrape_summary import histogram, histogram_quantile, parse, route_summaries
from gatewatch_dashboard.live_reading import live_reading
from gatewatch_dashboard.model import InterfaceStats, Reading, RouteRow, WorkerRow, ratio

TIMEOUT = 2.0
LIVE_PATH = "/_gatewatch/live.json"


class Source(Protocol):
    name: str

    async def read(self) -> Reading: ...

    async def close(self) -> None: ...


def label_of(url: str) -> str:
    """How a source is named on screen: host:port, and the path when it is not the default."""
    parts = urlsplit(url)
    path = "" if parts.path in ("", LIVE_PATH) else parts.path
    return f"{parts.netloc}{path}" or url


def _problem(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "unreachable (connection refused)"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer (timed out)"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered HTTP {exc.response.status_code}{_said(exc.response)}"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def _said(response: httpx.Response) -> str:
    """The one-line reason a refusing live endpoint gives (401: send the token; 403: none is
    set), as data: at most a line of it."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, str):
        return ""
    line = error.splitlines()[0] if error else ""
    return f": {line[:157]}..." if len(line) > 160 else (f": {line}" if line else "")


class _HTTPSource(ABC):
    kind = "live"

    def __init__(
        self, url: str, *, client: httpx.AsyncClient | None = None, token: str | None = None
    ) -> None:
        self.url = url
        self.name = label_of(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT, headers=headers)
        self._last = Reading(source=self.name, kind=self.kind, error="waiting for the first answer")
        self.polls = 0

    async def read(self) -> Reading:
        self.polls += 1
        try:
            reading = await self._fetch()
        except Exception as exc:  # noqa: BLE001 - whatever failed, the UI says so and retries
            self._last = replace(self._last.failed(f"{_problem(exc)}; retrying"), polls=self.polls)
            return self._last
        self._last = replace(reading, polls=self.polls)
        return self._last

    @abstractmethod
    async def _fetch(self) -> Reading:
        """One reading of this kind of endpoint (each source class says how)."""

    async def _get(self, url: str, **params: str) -> httpx.Response:
        response = await self._client.get(url, params=params or None)
        response.raise_for_status()
        return response

    async def close(self) -> None:
        await self._client.aclose()


class LiveSource(_HTTPSource):
    """A live endpoint (``/_gatewatch/live.json``): every tab."""

    kind = "live"

    async def _fetch(self) -> Reading:
        response = await self._get(self.url)
        return live_reading(self.name, parse_live_view(response.content))


class DirectorySource:
    """A directory of snapshot files (:mod:`gatewatch.export.live.local_dir`): the live view of the
    processes writing there, read without HTTP, as their user only can. Every tab."""

    kind = "live"

    def __init__(self, path: str, *, name: str | None = None) -> None:
        self.path = path
        self.name = name or "local " + (os.path.basename(path.rstrip(os.sep)) or path)
        # Its writers rewrite it at the polling pace only while someone reads it: say so now.
        mark_read(path)
        self._last = Reading(source=self.name, kind="live", error="waiting for the first reading")
        self.polls = 0

    async def read(self) -> Reading:
        self.polls += 1
        try:
            # A few small files, read off the UI's loop.
            view = await asyncio.to_thread(read_dir, self.path)
            if not view["processes"]:
                raise ValueError(f"no running process writes into {self.path}")
            reading = live_reading(self.name, view)
        except (OSError, ValueError) as exc:
            self._last = replace(self._last.failed(f"{exc}; retrying"), polls=self.polls)
            return self._last
        self._last = replace(reading, polls=self.polls)
        return self._last

    async def close(self) -> None:
        return None


class RecordedSource:
    """Recorded live views (bytes or decoded JSON), one per read, the last one repeated: a
    fixed data source for tests and screenshots. A document that does not parse is a failed
    read, as from an endpoint."""

    kind = "live"

    def __init__(self, name: str, documents: Sequence[object]) -> None:
        self.name = name
        self._documents = list(documents)
        self._index = 0
        self._last = Reading(source=name, kind="live", error="waiting for the first answer")

    async def read(self) -> Reading:
        document = self._documents[min(self._index, len(self._documents) - 1)]
        self._index += 1
        try:
            self._last = replace(live_reading(self.name, parse_live_view(document)), polls=self._index)
        except ValueError as exc:
            self._last = replace(self._last.failed(f"{exc}; retrying"), polls=self._index)
        return self._last

    async def close(self) -> None:
        return None


# -- a /metrics page -------------------------------------------------------------------------

_DURATION = "gatewatch_http_request_duration_seconds"
_BLOCKING = "gatewatch_http_request_blocking_seconds"
_AFTER = "gatewatch_http_request_after_response_seconds"
_CONCURRENCY = "gatewatch_http_concurrency_at_arrival"
_QUEUE = "gatewatch_http_request_queue_seconds"
_LAG = "gatewatch_event_loop_lag_seconds"
_IN_FLIGHT = "gatewatch_http_requests_in_flight"
_BUSY = "gatewatch_wsgi_workers_busy"
_CAPACITY = "gatewatch_wsgi_workers_capacity"
_SATURATED = "gatewatch_wsgi_saturated_requests_total"

Buckets = tuple[tuple[float, float], ...]


def _delta_buckets(now: Buckets, before: Buckets | None) -> Buckets:
    """Observations between two scrapes of one histogram (all of them on the first scrape, or
    after a restart reset the counts)."""
    if before is None:
        return now
    old = dict(before)
    delta = tuple((bound, count - old.get(bound, 0.0)) for bound, count in now)
    return now if any(count < 0 for _, count in delta) else delta


class MetricsSource(_HTTPSource):
    """A ``/metrics`` page: the Overview (rates and quantiles between two scrapes, as
    ``rate()`` and ``histogram_quantile`` would give them), Routes and Workers."""

    kind = "metrics"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._previous: dict[str, tuple[float, Buckets, float]] = {}

    async def _fetch(self) -> Reading:
        response = await self._get(self.url)
        return self.reading_from(response.text, time.monotonic())

    def reading_from(self, text: str, now: float) -> Reading:
        samples = parse(text)
        interfaces = sorted(
            {
                s.labels["interface"]
                for s in samples
                if s.name.startswith(_DURATION) and "interface" in s.labels
            }
        )
        stats = []
        for interface in interfaces:
            duration = histogram(samples, _DURATION, interface=interface)
            errors = _server_errors(samples, interface=interface)
            blocking = histogram(samples, _BLOCKING, interface=interface)
            key = f"{interface}"
            before = self._previous.get(key)
            delta = _delta_buckets(duration.buckets, before[1] if before else None)
            count_delta = delta[-1][1] if delta else 0.0
            rate = None
            if before is not None and now > before[0] and duration.count >= before[2]:
                rate = (duration.count - before[2]) / (now - before[0])
            self._previous[key] = (now, duration.buckets, duration.count)
            after = histogram(samples, _AFTER, interface=interface)
            concurrency = histogram(samples, _CONCURRENCY, interface=interface)
            queue = histogram(samples, _QUEUE, interface=interface)
            lag = histogram(samples, _LAG) if interface == "asgi" else None
            in_flight = sum(
                s.value for s in samples if s.name == _IN_FLIGHT and s.labels.get("interface") == interface
            )
            wsgi = interface == "wsgi"
            stats.append(
                InterfaceStats(
                    interface=interface,
                    server="/metrics",
                    processes=0,
                    rate=rate,
                    p50=histogram_quantile(0.5, delta) if count_delta else None,
                    p95=histogram_quantile(0.95, delta) if count_delta else None,
                    p99=histogram_quantile(0.99, delta) if count_delta else None,
                    error_rate=ratio(errors, duration.count),
                    in_flight=int(in_flight),
                    concurrency=concurrency.mean,
                    blocking_share=ratio(blocking.sum, duration.sum),
                    lag_p99=lag.quantile(0.99) if lag is not None and lag.count else None,
                    after_response=after.mean,
                    queue=queue.mean,
                    busy=int(sum(s.value for s in samples if s.name == _BUSY)) if wsgi else None,
                    capacity=int(sum(s.value for s in samples if s.name == _CAPACITY)) or None
                    if wsgi
                    else None,
                )
            )
        routes = []
        for interface in interfaces:
            for route, summary in route_summaries(samples, interface).items():
                spread = histogram(samples, _DURATION, interface=interface, route=route)
                routes.append(
                    RouteRow(
                        source=self.name,
                        interface=interface,
                        route=route,
                        requests=int(summary.requests),
                        rate=None,
                        p50=spread.quantile(0.5),
                        p95=spread.quantile(0.95),
                        p99=spread.quantile(0.99),
                        blocking=summary.blocking_mean,
                        cpu=summary.cpu_mean,
                        offload=summary.offload_mean,
                        errors=int(_server_errors(samples, interface=interface, route=route)),
                    )
                )
        workers = _metrics_workers(self.name, samples)
        return Reading(
            source=self.name, kind=self.kind, interfaces=tuple(stats), routes=tuple(routes), workers=workers
        )


def _server_errors(samples: Iterable[Sample], **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == _DURATION + "_count"
        and all(s.labels.get(k) == v for k, v in labels.items())
        and s.labels.get("status", "").startswith("5")
    )


def _metrics_workers(source: str, samples: Iterable[Sample]) -> tuple[WorkerRow, ...]:
    """WSGI workers per process (multiprocess mode labels them with ``pid``)."""
    by_pid: dict[int, dict[str, float]] = {}
    for sample in samples:
        if sample.name in (_BUSY, _CAPACITY, _SATURATED):
            pid = int(sample.labels.get("pid", "0") or 0)
            by_pid.setdefault(pid, {})[sample.name] = sample.value
    rows = []
    for pid, values in sorted(by_pid.items()):
        if _BUSY not in values and _CAPACITY not in values:
            # The saturated counter alone: multiprocess mode sums it over the server, no pid.
            continue
        capacity = values.get(_CAPACITY)
        rows.append(
            WorkerRow(
                source=source,
                pid=pid,
                servers="wsgi",
                busy=int(values.get(_BUSY, 0)),
                total=int(capacity) if capacity else None,
                in_flight=int(values.get(_BUSY, 0)),
                websockets=0,
                queue=None,
                saturated=int(values.get(_SATURATED, 0)),
            )
        )
    return tuple(rows)


# -- a Prometheus server -----------------------------------------------------------------------

WINDOW = "1m"


def _rate(name: str, by: str = "interface") -> str:
    return f"sum by ({by}) (rate({name}[{WINDOW}]))"


QUERIES: dict[str, str] = {
    "rate": _rate(_DURATION + "_count"),
    "p50": f"histogram_quantile(0.5, {_rate(_DURATION + '_bucket', 'interface, le')})",
    "p95": f"histogram_quantile(0.95, {_rate(_DURATION + '_bucket', 'interface, le')})",
    "p99": f"histogram_quantile(0.99, {_rate(_DURATION + '_bucket', 'interface, le')})",
    "errors": f'sum by (interface) (rate({_DURATION}_count{{status=~"5.."}}[{WINDOW}])) / '
    + _rate(_DURATION + "_count"),
    "in_flight": f"sum by (interface) ({_IN_FLIGHT})",
    "concurrency": f"{_rate(_CONCURRENCY + '_sum')} / {_rate(_CONCURRENCY + '_count')}",
    "blocking": f"{_rate(_BLOCKING + '_sum')} / {_rate(_DURATION + '_sum')}",
    "after": f"{_rate(_AFTER + '_sum')} / {_rate(_AFTER + '_count')}",
    "queue": f"{_rate(_QUEUE + '_sum')} / {_rate(_QUEUE + '_count')}",
    "instances": f"count by (interface) (count by (interface, instance) ({_IN_FLIGHT}))",
    "lag_p99": "label_replace(histogram_quantile(0.99, "
    f'sum by (le) (rate({_LAG}_bucket[{WINDOW}]))), "interface", "asgi", "", "")',
    "busy": f'label_replace(sum({_BUSY}), "interface", "wsgi", "", "")',
    "capacity": f'label_replace(sum({_CAPACITY}), "interface", "wsgi", "", "")',
}


def _number(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


class PrometheusSource(_HTTPSource):
    """A Prometheus server's query API: the Overview for the whole fleet (every instance it
    scrapes), through PromQL over the last minute."""

    kind = "prometheus"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url.rstrip("/"), **kwargs)
        self.name = f"prometheus {label_of(url)}"

    async def _fetch(self) -> Reading:
        results: dict[str, dict[str, float | None]] = {}
        for key, query in QUERIES.items():
            response = await self._get(self.url + "/api/v1/query", query=query)
            results[key] = self.vector(response.json())
        return self.reading_from(results)

    @staticmethod
    def vector(body: object) -> dict[str, float | None]:
        """interface -> value, from a query API answer holding an instant vector."""
        if not isinstance(body, dict) or body.get("status") != "success":
            raise ValueError(f"Prometheus answered {str(body)[:120]}")
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise ValueError("Prometheus answered something other than an instant vector")
        found: dict[str, float | None] = {}
        for item in data.get("result", []):
            if isinstance(item, dict) and isinstance(item.get("metric"), dict):
                value = item.get("value")
                interface = str(item["metric"].get("interface", ""))
                if isinstance(value, list) and len(value) == 2:
                    found[interface] = _number(value[1])
        return found

    def reading_from(self, results: dict[str, dict[str, float | None]]) -> Reading:
        interfaces = sorted(
            {name for name in results.get("rate", {}) if name} | set(results.get("in_flight", {}))
        )

        def get(key: str, interface: str) -> float | None:
            return results.get(key, {}).get(interface)

        stats = []
        for interface in interfaces:
            in_flight, instances = get("in_flight", interface), get("instances", interface)
            busy, capacity = get("busy", interface), get("capacity", interface)
            stats.append(
                InterfaceStats(
                    interface=interface,
                    server="PromQL",
                    processes=int(instances or 0),
                    rate=get("rate", interface),
                    p50=get("p50", interface),
                    p95=get("p95", interface),
                    p99=get("p99", interface),
                    error_rate=get("errors", interface),
                    in_flight=None if in_flight is None else int(in_flight),
                    concurrency=get("concurrency", interface),
                    blocking_share=get("blocking", interface),
                    lag_p99=get("lag_p99", interface),
                    after_response=get("after", interface),
                    queue=get("queue", interface),
                    busy=None if busy is None else int(busy),
                    capacity=None if not capacity else int(capacity),
                )
            )
        return Reading(source=self.name, kind=self.kind, interfaces=tuple(stats))


def source_for(url: str, *, token: str | None = None) -> Source:
    """A live endpoint, or a ``/metrics`` page when the URL's path ends in ``/metrics``."""
    if urlsplit(url).path.rstrip("/").endswith("/metrics"):
        return MetricsSource(url, token=token)
    if urlsplit(url).path in ("", "/"):
        url = url.rstrip("/") + LIVE_PATH
    return LiveSource(url, token=token)
