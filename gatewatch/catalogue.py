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

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from gatewatch import _buckets as b
from gatewatch._catalogue_websocket import WEBSOCKET
from gatewatch._metric_spec import Kind, MetricSpec, MultiprocessMode, buckets_valid

__all__ = [
    "BY_KEY",
    "BY_NAME",
    "CLIENT_CLOSED_STATUS",
    "CPU_SAMPLE_EVERY",
    "HISTOGRAM_KEYS",
    "METRICS",
    "Kind",
    "MetricSpec",
    "MultiprocessMode",
    "buckets_valid",
    "by_name",
    "metric",
]

# Status label of a request whose client left before the response ended (nginx's
# convention), so it never looks like the application's own 5xx.
CLIENT_CLOSED_STATUS: Final = 499

_HTTP: Final = ("interface", "method", "route")
# CPU time is measured on one request in this many, each request picked at random
# (gatewatch._cpu_sampling): its two thread_time() system calls per request, or per coroutine
# step under ASGI, were the largest share of gatewatch's cost.
CPU_SAMPLE_EVERY: Final = 8
_HTTP_STATUS: Final = (*_HTTP, "status")
# The lean preset's labels of the fine distributions (blocking, CPU, offload, first byte...):
# their buckets per route were most of a route's series; per route, counters carry their totals.
_LEAN: Final = ("interface",)

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
        b.REQUEST,
        otel_name="http.server.request.duration",
        otel_unit="s",
        otel_buckets=b.OTEL_DURATION,
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
        b.FIRST_BYTE,
        otel_name="gatewatch.http.server.request.after_response.duration",
        otel_unit="s",
        lean_labels=_LEAN,
    ),
    MetricSpec(
        "blocking",
        "gatewatch_http_request_blocking_seconds",
        "histogram",
        "Time the request held its worker (WSGI) or the event loop (ASGI, the sum of the request "
        "coroutine's synchronous steps).",
        _HTTP,
        "seconds",
        b.BLOCKING,
        otel_name="gatewatch.http.server.request.blocking.time",
        otel_unit="s",
        lean_labels=_LEAN,
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
        b.BLOCKING,
        otel_name="gatewatch.http.server.request.cpu.time",
        otel_unit="s",
        lean_labels=_LEAN,
    ),
    MetricSpec(
        "ttfb",
        "gatewatch_http_time_to_first_byte_seconds",
        "histogram",
        "Time from request arrival until the first response body chunk was handed to the server.",
        _HTTP,
        "seconds",
        b.FIRST_BYTE,
        otel_name="gatewatch.http.server.request.time_to_first_byte",
        otel_unit="s",
        lean_labels=_LEAN,
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
        b.CONCURRENCY,
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
        otel_buckets=b.OTEL_SIZE,
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
        otel_buckets=b.OTEL_SIZE,
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
        b.OFFLOAD,
        otel_name="gatewatch.http.server.request.offload.duration",
        otel_unit="s",
        lean_labels=_LEAN,
    ),
    MetricSpec(
        "offload_queue",
        "gatewatch_http_request_offload_queue_seconds",
        "histogram",
        "Time work handed to threads by the request waited for a free thread.",
        _HTTP,
        "seconds",
        b.OFFLOAD,
        otel_name="gatewatch.http.server.request.offload.queue.duration",
        otel_unit="s",
        lean_labels=_LEAN,
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
    # -- Per-route totals of the fine distributions (their buckets are per route only with
    # series="full"): what a route's blocking, CPU and offload come to, whatever the preset. ---
    MetricSpec(
        "route_blocking",
        "gatewatch_http_route_blocking_seconds_total",
        "counter",
        "Time the route's requests held their worker (WSGI) or the event loop (ASGI), in all: the "
        "sum of gatewatch_http_request_blocking_seconds, per route.",
        _HTTP,
        "seconds",
        otel_name="gatewatch.http.server.route.blocking.time",
        otel_unit="s",
    ),
    MetricSpec(
        "route_cpu",
        "gatewatch_http_route_cpu_seconds_total",
        "counter",
        "On-CPU time of the route's sampled requests (gatewatch_http_route_cpu_samples_total of "
        "them), in all.",
        _HTTP,
        "seconds",
        otel_name="gatewatch.http.server.route.cpu.time",
        otel_unit="s",
    ),
    MetricSpec(
        "route_cpu_samples",
        "gatewatch_http_route_cpu_samples_total",
        "counter",
        f"The route's requests whose CPU time was measured (each with probability 1/{CPU_SAMPLE_EVERY}).",
        _HTTP,
        otel_name="gatewatch.http.server.route.cpu.samples",
        otel_unit="{request}",
    ),
    MetricSpec(
        "route_offload",
        "gatewatch_http_route_offload_seconds_total",
        "counter",
        "Wall time the route's requests waited on work handed to threads, in all (requests where "
        "hand-offs are tracked).",
        _HTTP,
        "seconds",
        otel_name="gatewatch.http.server.route.offload.time",
        otel_unit="s",
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
        b.QUEUE,
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
        sparse=True,
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
        sparse=True,
    ),
    MetricSpec(
        "saturated",
        "gatewatch_wsgi_saturated_requests_total",
        "counter",
        "WSGI requests that took this process's last free worker thread: arrivals after them wait "
        "for a thread.",
        otel_name="gatewatch.wsgi.saturated_requests",
        otel_unit="{request}",
        sparse=True,
    ),
    # -- Event loop -----------------------------------------------------------------------
    MetricSpec(
        "loop_lag",
        "gatewatch_event_loop_lag_seconds",
        "histogram",
        "How late the event loop ran a callback scheduled at a fixed interval (loop_lag_interval).",
        (),
        "seconds",
        b.LAG,
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
    *WEBSOCKET,
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
