"""The metric catalogue: one :class:`MetricSpec` per metric, and nothing else spells one.

Both Prometheus back ends (the in-process aggregator and prometheus-client's multiprocess
mode) build their families from :data:`METRICS`, so a scrape looks the same whichever one a
process uses; the docs site's metrics reference is rendered from it when the site is built
(:mod:`gatewatch.catalogue_docs`), and the OpenTelemetry names live here too.

A spec's ``name`` is the name as exposed and queried: counters end in ``_total`` and info
metrics in ``_info``; a histogram's is the base of its ``_bucket``/``_sum``/``_count``
series. :attr:`MetricSpec.family` is the name prometheus-client's constructors take.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType
from typing import Final, Literal

Kind = Literal["counter", "gauge", "histogram", "info"]
# prometheus-client's multiprocess_mode of a gauge: how the workers' values merge.
MultiprocessMode = Literal["livesum", "liveall", "max"]

# The suffix prometheus-client adds to a family's name in the exposition.
_SUFFIXES: Final[Mapping[str, str]] = {"counter": "_total", "info": "_info"}

# Status label of a request whose client left before the response ended (nginx's
# convention), so it never looks like the application's own 5xx.
CLIENT_CLOSED_STATUS: Final = 499


@dataclass(frozen=True)
class MetricSpec:
    """Everything that defines one metric's shape, in every exporter and document."""

    key: str  # short and stable: options (``histograms={"duration"}``) and code refer to it
    name: str  # as exposed: counters end in _total, info metrics in _info
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    # The Prometheus base unit the name ends in ("seconds", "bytes"); "" for counts.
    unit: str = ""
    buckets: tuple[float, ...] = ()  # histograms only: default upper bounds, +Inf implied
    # Gauges and info metrics (which are 0/1 gauges in multiprocess mode) only.
    multiprocess_mode: MultiprocessMode | None = None
    otel_name: str = ""
    otel_unit: str = ""  # UCUM, as OpenTelemetry spells it: "s", "By", "{request}"

    def __post_init__(self) -> None:
        # A malformed spec fails at import, before it can reach a scrape.
        suffix = _SUFFIXES.get(self.kind, "")
        checks = (
            (self.name.startswith("gatewatch_"), "the name must start with gatewatch_"),
            (
                self.name.endswith(suffix) if suffix else not self.name.endswith(("_total", "_info")),
                "counters (only) end in _total, info metrics (only) in _info",
            ),
            (not self.unit or self.family.endswith("_" + self.unit), "the name must end in its unit"),
            ((self.kind == "histogram") == bool(self.buckets), "histograms (only) have buckets"),
            (not self.buckets or buckets_valid(self.buckets), "buckets must be valid"),
            (
                (self.kind in ("gauge", "info")) == (self.multiprocess_mode is not None),
                "gauges and info metrics (only) have a multiprocess mode",
            ),
            (bool(self.otel_name and self.otel_unit), "an OpenTelemetry name and unit are required"),
        )
        problems = [text for ok, text in checks if not ok]
        if problems:
            raise ValueError(f"catalogue entry {self.key!r}: {'; '.join(problems)}")

    @property
    def family(self) -> str:
        """The name prometheus-client's family constructors take (no ``_total``/``_info``)."""
        suffix = _SUFFIXES.get(self.kind)
        return self.name.removesuffix(suffix) if suffix else self.name


def buckets_valid(bounds: tuple[float, ...]) -> bool:
    """Finite, non-negative and strictly increasing (0 is a meaningful bound: no wait at all)."""
    return (
        bool(bounds)
        and all(math.isfinite(b) and b >= 0 for b in bounds)
        and all(a < b for a, b in pairwise(bounds))
    )


# -- Buckets (seconds unless said otherwise) -------------------------------------------

# Whole requests: 1 ms .. 60 s.
_REQUEST: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
# Blocking and CPU time are usually far below a millisecond; a request that holds
# an event loop for 50 ms is already a serious incident.
_BLOCKING: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
_FIRST_BYTE: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
# Thread hand-offs: a hop costs tens of microseconds; a saturated thread pool, seconds.
_OFFLOAD: Final = (
    0.0,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
# Queueing before the app: from nothing to a backlog of seconds.
_QUEUE: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
# Event-loop lag: a healthy loop answers within a millisecond; seconds mean it was frozen.
_LAG: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Other requests already in flight in this process (a count, not seconds).
_CONCURRENCY: Final = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)
# WebSocket sessions last from a moment to hours.
_SESSION: Final = (0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0)

_HTTP: Final = ("interface", "method", "route")
# CPU time is measured on one request in this many, each request picked at random
# (gatewatch._cpu_sampling): its two thread_time() system calls per request, or per coroutine
# step under ASGI, were the largest share of gatewatch's cost.
CPU_SAMPLE_EVERY: Final = 8
_HTTP_STATUS: Final = (*_HTTP, "status")

METRICS: Final[tuple[MetricSpec, ...]] = (
    # -- HTTP requests ------------------------------------------------------------------
    MetricSpec(
        "duration",
        "gatewatch_http_request_duration_seconds",
        "histogram",
        "Time from request arrival until the response really ended (last body chunk handed to "
        "the server: sent under ASGI, iterable exhausted under WSGI, a wsgi.file_wrapper closed).",
        _HTTP_STATUS,
        "seconds",
        _REQUEST,
        otel_name="http.server.request.duration",
        otel_unit="s",
    ),
    MetricSpec(
        "after_response",
        "gatewatch_http_request_after_response_seconds",
        "histogram",
        "Time the application went on after its response ended (the app returning under ASGI: "
        "background tasks, Django's close hop; close() under WSGI); never part of the duration "
        "or the in-flight counts.",
        _HTTP,
        "seconds",
        _FIRST_BYTE,
        otel_name="gatewatch.http.server.request.after_response.duration",
        otel_unit="s",
    ),
    MetricSpec(
        "blocking",
        "gatewatch_http_request_blocking_seconds",
        "histogram",
        "Time the request held its worker (WSGI) or the event loop (ASGI, the sum of the request "
        "coroutine's synchronous steps).",
        _HTTP,
        "seconds",
        _BLOCKING,
        otel_name="gatewatch.http.server.request.blocking.time",
        otel_unit="s",
    ),
    MetricSpec(
        "cpu",
        "gatewatch_http_request_cpu_seconds",
        "histogram",
        "On-CPU time of the request's own thread from its arrival until its response ended (never "
        f"more than its duration), measured on each request with probability 1/{CPU_SAMPLE_EVERY} "
        "(the count is the sampled requests).",
        _HTTP,
        "seconds",
        _BLOCKING,
        otel_name="gatewatch.http.server.request.cpu.time",
        otel_unit="s",
    ),
    MetricSpec(
        "ttfb",
        "gatewatch_http_time_to_first_byte_seconds",
        "histogram",
        "Time from request arrival until the first response body chunk was handed to the server.",
        _HTTP,
        "seconds",
        _FIRST_BYTE,
        otel_name="gatewatch.http.server.request.time_to_first_byte",
        otel_unit="s",
    ),
    MetricSpec(
        "in_flight",
        "gatewatch_http_requests_in_flight",
        "gauge",
        "HTTP requests being served right now.",
        ("interface", "method"),
        multiprocess_mode="livesum",
        otel_name="http.server.active_requests",
        otel_unit="{request}",
    ),
    MetricSpec(
        "concurrency",
        "gatewatch_http_concurrency_at_arrival",
        "histogram",
        "Other HTTP requests already in flight in this process when a request arrived.",
        ("interface",),
        "",
        _CONCURRENCY,
        otel_name="gatewatch.http.server.request.concurrency",
        otel_unit="{request}",
    ),
    # OpenTelemetry's body-size conventions are histograms of each request's size; Prometheus
    # gets the total only (a size histogram per route would double the series for little).
    MetricSpec(
        "request_bytes",
        "gatewatch_http_request_body_bytes_total",
        "counter",
        "Request body bytes the application really read.",
        _HTTP,
        "bytes",
        otel_name="http.server.request.body.size",
        otel_unit="By",
    ),
    MetricSpec(
        "response_bytes",
        "gatewatch_http_response_body_bytes_total",
        "counter",
        "Response body bytes really handed to the server (not Content-Length).",
        _HTTP,
        "bytes",
        otel_name="http.server.response.body.size",
        otel_unit="By",
    ),
    MetricSpec(
        "exceptions",
        "gatewatch_http_exceptions_total",
        "counter",
        "Exceptions raised by the application, by type.",
        ("interface", "route", "exception"),
        otel_name="gatewatch.http.server.exceptions",
        otel_unit="{exception}",
    ),
    MetricSpec(
        "disconnects",
        "gatewatch_http_disconnects_total",
        "counter",
        "Requests whose client went away before the response ended.",
        ("interface", "route"),
        otel_name="gatewatch.http.server.disconnects",
        otel_unit="{request}",
    ),
    MetricSpec(
        "internal_errors",
        "gatewatch_internal_errors_total",
        "counter",
        "Errors inside gatewatch itself; the application never sees them.",
        otel_name="gatewatch.internal_errors",
        otel_unit="{error}",
    ),
    MetricSpec(
        "info",
        "gatewatch_info",
        "info",
        "gatewatch version, interface and server (the one serving, read at its first request or "
        "lifespan start-up).",
        ("version", "interface", "server"),
        multiprocess_mode="max",
        otel_name="gatewatch.info",
        otel_unit="1",
    ),
    # -- Thread hand-offs, queueing, views ------------------------------------------------
    MetricSpec(
        "offload",
        "gatewatch_http_request_offload_seconds",
        "histogram",
        "Wall time the request waited on work handed to threads (asgiref's sync_to_async, anyio's "
        "to_thread) until its response ended, concurrent hand-offs counted once; only for requests "
        "where hand-offs are tracked.",
        _HTTP,
        "seconds",
        _OFFLOAD,
        otel_name="gatewatch.http.server.request.offload.duration",
        otel_unit="s",
    ),
    MetricSpec(
        "offload_queue",
        "gatewatch_http_request_offload_queue_seconds",
        "histogram",
        "Time work handed to threads by the request waited for a free thread.",
        _HTTP,
        "seconds",
        _OFFLOAD,
        otel_name="gatewatch.http.server.request.offload.queue.duration",
        otel_unit="s",
    ),
    MetricSpec(
        "thread_hops",
        "gatewatch_http_request_thread_hops_total",
        "counter",
        "Crossings between the event loop and threads through asgiref (sync_to_async and "
        "async_to_sync), nested ones included.",
        _HTTP,
        otel_name="gatewatch.http.server.request.thread_hops",
        otel_unit="{hop}",
    ),
    MetricSpec(
        "route_view",
        "gatewatch_route_view_info",
        "info",
        "The view serving each route (dotted name) and whether it is sync or async.",
        ("interface", "route", "view", "view_kind"),
        multiprocess_mode="max",
        otel_name="gatewatch.http.server.route.view",
        otel_unit="1",
    ),
    MetricSpec(
        "queue",
        "gatewatch_http_request_queue_seconds",
        "histogram",
        "Time a request waited before the application saw it, from the timestamp a proxy put in "
        "the queue-time header (X-Request-Start); only requests carrying it.",
        ("interface",),
        "seconds",
        _QUEUE,
        otel_name="gatewatch.http.server.request.queue.duration",
        otel_unit="s",
    ),
    # -- WSGI worker threads (per process: a pid label in multiprocess mode) --------------
    MetricSpec(
        "workers_busy",
        "gatewatch_wsgi_workers_busy",
        "gauge",
        "WSGI requests being served by this process now: its busy worker threads.",
        multiprocess_mode="liveall",
        otel_name="gatewatch.wsgi.workers.busy",
        otel_unit="{thread}",
    ),
    MetricSpec(
        "workers_capacity",
        "gatewatch_wsgi_workers_capacity",
        "gauge",
        "WSGI requests this process can serve at once (its worker threads), when known; absent in "
        "a process that serves only ASGI.",
        multiprocess_mode="liveall",
        otel_name="gatewatch.wsgi.workers.capacity",
        otel_unit="{thread}",
    ),
    MetricSpec(
        "saturated",
        "gatewatch_wsgi_saturated_requests_total",
        "counter",
        "WSGI requests that took this process's last free worker thread: arrivals after them wait "
        "for a thread.",
        otel_name="gatewatch.wsgi.saturated_requests",
        otel_unit="{request}",
    ),
    # -- Event loop -----------------------------------------------------------------------
    MetricSpec(
        "loop_lag",
        "gatewatch_event_loop_lag_seconds",
        "histogram",
        "How late the event loop ran a callback scheduled at a fixed interval (loop_lag_interval).",
        (),
        "seconds",
        _LAG,
        otel_name="gatewatch.eventloop.delay",
        otel_unit="s",
    ),
    MetricSpec(
        "loop_blocks",
        "gatewatch_event_loop_blocks_total",
        "counter",
        "Synchronous steps that held the event loop longer than the block threshold "
        "(block_threshold), by route (<background> when outside any request).",
        ("route",),
        otel_name="gatewatch.eventloop.blocks",
        otel_unit="{step}",
    ),
    MetricSpec(
        "loop_blocked",
        "gatewatch_event_loop_blocked_seconds_total",
        "counter",
        "Seconds the event loop was held by those blocking steps, by route.",
        ("route",),
        "seconds",
        otel_name="gatewatch.eventloop.blocked.time",
        otel_unit="s",
    ),
    # -- WebSocket sessions (never in the HTTP metrics) -----------------------------------
    MetricSpec(
        "websocket_active",
        "gatewatch_websocket_sessions_active",
        "gauge",
        "WebSocket sessions accepted and not yet closed.",
        ("route",),
        multiprocess_mode="livesum",
        otel_name="gatewatch.websocket.sessions.active",
        otel_unit="{session}",
    ),
    MetricSpec(
        "websocket_sessions",
        "gatewatch_websocket_sessions_total",
        "counter",
        "WebSocket sessions by outcome: accepted, rejected (closed or denied before accept) or "
        "failed (the app raised before accept).",
        ("route", "outcome"),
        otel_name="gatewatch.websocket.sessions",
        otel_unit="{session}",
    ),
    MetricSpec(
        "websocket_duration",
        "gatewatch_websocket_session_duration_seconds",
        "histogram",
        "Time from accept to close of WebSocket sessions.",
        ("route",),
        "seconds",
        _SESSION,
        otel_name="gatewatch.websocket.session.duration",
        otel_unit="s",
    ),
    MetricSpec(
        "websocket_blocking",
        "gatewatch_websocket_session_blocking_seconds",
        "histogram",
        "Time a WebSocket session's coroutine held the event loop, over the whole session.",
        ("route",),
        "seconds",
        _BLOCKING,
        otel_name="gatewatch.websocket.session.blocking.time",
        otel_unit="s",
    ),
    MetricSpec(
        "websocket_messages",
        "gatewatch_websocket_messages_total",
        "counter",
        "WebSocket messages by direction (received/sent) and kind (text/binary).",
        ("route", "direction", "kind"),
        otel_name="gatewatch.websocket.messages",
        otel_unit="{message}",
    ),
    MetricSpec(
        "websocket_bytes",
        "gatewatch_websocket_message_bytes_total",
        "counter",
        "WebSocket message payload bytes by direction (text counted as UTF-8).",
        ("route", "direction"),
        "bytes",
        otel_name="gatewatch.websocket.message.payload",
        otel_unit="By",
    ),
    MetricSpec(
        "websocket_closes",
        "gatewatch_websocket_closes_total",
        "counter",
        "Closed WebSocket sessions by close code and initiator (client/server).",
        ("route", "code", "initiator"),
        otel_name="gatewatch.websocket.closes",
        otel_unit="{session}",
    ),
    MetricSpec(
        "websocket_exceptions",
        "gatewatch_websocket_exceptions_total",
        "counter",
        "Exceptions raised by the application during WebSocket sessions, by type.",
        ("route", "exception"),
        otel_name="gatewatch.websocket.exceptions",
        otel_unit="{exception}",
    ),
)

BY_KEY: Final[Mapping[str, MetricSpec]] = MappingProxyType({spec.key: spec for spec in METRICS})
BY_NAME: Final[Mapping[str, MetricSpec]] = MappingProxyType({spec.name: spec for spec in METRICS})
# The histogram families, in catalogue order: what ``histograms=`` chooses among.
HISTOGRAM_KEYS: Final = tuple(spec.key for spec in METRICS if spec.kind == "histogram")

if not len(BY_KEY) == len(BY_NAME) == len({spec.otel_name for spec in METRICS}) == len(METRICS):
    raise ValueError("catalogue keys, names and OpenTelemetry names must each be unique")


def metric(key: str) -> MetricSpec:
    """The spec whose key is ``key``; a KeyError lists the known keys."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"no metric {key!r} in the catalogue; known: {', '.join(BY_KEY)}") from None


def by_name(name: str) -> MetricSpec:
    """The spec exposed as ``name`` (``gatewatch_http_request_body_bytes_total``, not its family)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no metric named {name!r} in the catalogue") from None
