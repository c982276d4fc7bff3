"""Every PromQL expression gatewatch ships, built from the names in :mod:`gatewatch.catalogue`.

The Grafana boards (``grafana/boards``), the recording and alerting rules (``grafana/rules``,
written by ``python grafana/generate.py``) and the fleet view of ``gatewatch top`` over a
Prometheus server all take their queries from here, so a renamed metric or a changed ratio is
one edit, and the three can never disagree on what "the 5xx ratio" or "blocking share" means.

Functions take catalogue *keys* (``"duration"``), never metric names; a histogram's series
are named by ``part`` (``"_bucket"``, ``"_sum"``, ``"_count"``). ``by`` is a grouping
(``"interface, route"``, or ``""`` for none), ``sel`` the label matchers inside the braces and
``window`` a range (``"5m"``, or Grafana's ``$__rate_interval`` on the boards).

This module is data: it imports only the catalogue, so the dashboard and the generators can
import it without prometheus-client.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from gatewatch.catalogue import METRICS, metric

Part = Literal["", "_bucket", "_sum", "_count"]

# Grafana's range for rate(): at least four scrape intervals, whatever the zoom.
RATE_INTERVAL: Final = "$__rate_interval"
SERVER_ERROR: Final = 'status=~"5.."'
# WebSocket close codes that mean something went wrong: 1005 (uvicorn's aborted connection),
# 1006 (dropped), 1011 (the app raised), 1014/1015 (gateway, TLS). Not 1000/1001, nor
# 1012/1013 (restarts).
ABNORMAL_CLOSE: Final = 'code=~"1005|1006|1011|1014|1015"'
# The latency objective: 99 % of requests within 500 ms (the le="0.5" bucket of the default
# duration buckets) over 30 days, so a 1 % error budget.
SLOW_BOUND: Final = "0.5"
SLO_BUDGET: Final = 0.01


# -- building blocks -------------------------------------------------------------------------


def series(key: str, part: Part = "") -> str:
    """The exposed name of a catalogue metric (a histogram's ``part`` series when given)."""
    spec = metric(key)
    if part and spec.kind != "histogram":
        raise ValueError(f"{key!r} is a {spec.kind}: it has no {part} series")
    return spec.name + part


def matchers(*parts: str) -> str:
    """Label matchers joined, empty ones left out."""
    return ", ".join(part for part in parts if part)


def vector(key: str, sel: str = "", part: Part = "") -> str:
    return f"{series(key, part)}{{{sel}}}" if sel else series(key, part)


def aggregate(op: str, by: str, inner: str) -> str:
    return f"{op} by ({by}) ({inner})" if by else f"{op}({inner})"


def ratio(numerator: str, denominator: str) -> str:
    return f"{numerator}\n/\n{denominator}"


def rate(key: str, sel: str = "", window: str = RATE_INTERVAL, part: Part = "") -> str:
    return f"rate({vector(key, sel, part)}[{window}])"


def sum_rate(key: str, by: str = "", sel: str = "", window: str = RATE_INTERVAL, part: Part = "") -> str:
    return aggregate("sum", by, rate(key, sel, window, part))


def total(key: str, by: str = "", sel: str = "", op: str = "sum") -> str:
    """A gauge (or info metric) aggregated now: ``sum by (interface) (gatewatch_..._in_flight)``."""
    return aggregate(op, by, vector(key, sel))


def increase(key: str, by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    return aggregate("sum", by, f"increase({vector(key, sel)}[{window}])")


def per_minute(key: str, by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    return f"60 * {sum_rate(key, by, sel, window)}"


def quantile_of(q: float, buckets: str) -> str:
    """The ``q`` quantile of bucket rates already summed (a recorded series)."""
    return f"histogram_quantile({q}, {buckets})"


def quantile(q: float, key: str, by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    return quantile_of(q, sum_rate(key, matchers(by, "le"), sel, window, "_bucket"))


def mean(key: str, by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """Mean observation of a histogram over the window."""
    return ratio(sum_rate(key, by, sel, window, "_sum"), sum_rate(key, by, sel, window, "_count"))


def label_values(key: str, label: str, sel: str = "", part: Part = "") -> str:
    """A Grafana variable's query: the values ``label`` takes on a metric."""
    return f"label_values({vector(key, sel, part)}, {label})"


def topk(k: int, expr: str) -> str:
    return f"topk({k}, {expr})"


def exceeds(expr: str, threshold: float | str, op: str = ">") -> str:
    """An alert condition: ``expr`` compared against a constant."""
    return f"{expr} {op} {threshold}"


def scaled(expr: str, factor: float) -> str:
    return f"{expr} * {factor}"


def all_of(*conditions: str) -> str:
    return "\nand\n".join(conditions)


# -- what the boards, the rules and the dashboard share ---------------------------------------


def requests(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """HTTP requests that ended, per second (WebSocket sessions are not requests)."""
    return sum_rate("duration", by, sel, window, "_count")


def server_error_ratio(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """Share of requests answered with a 5xx status (499, the client left, is not one)."""
    return ratio(requests(by, matchers(sel, SERVER_ERROR), window), requests(by, sel, window))


# The per-route totals (counters) exist whatever the series preset, where the fine histograms
# are per route only with series="full": per-route figures read the totals.


def blocking_share(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """Time holding the worker (WSGI) or the event loop (ASGI) over the request time."""
    return ratio(sum_rate("route_blocking", by, sel, window), sum_rate("duration", by, sel, window, "_sum"))


def cpu_mean(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """On-CPU time per sampled request."""
    return ratio(sum_rate("route_cpu", by, sel, window), sum_rate("route_cpu_samples", by, sel, window))


def cpu_share(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """On-CPU time over duration, per request on average: CPU time is sampled (one request in
    CPU_SAMPLE_EVERY), so the means are divided, never the sums."""
    return ratio(f"({cpu_mean(by, sel, window)})", f"({mean('duration', by, sel, window)})")


def per_request(key: str, by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """A request counter (body bytes, a per-route total such as ``route_blocking``) per request."""
    return ratio(sum_rate(key, by, sel, window), requests(by, sel, window))


def hops_per_request(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """Thread hops per request (every request of a route whose hand-offs are tracked: Django's
    are all tracked)."""
    return per_request("thread_hops", by, sel, window)


def worker_utilisation(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """Busy WSGI worker threads over capacity, averaged over the window and summed over the
    processes (multiprocess mode has a series per pid)."""

    def averaged(key: str) -> str:
        return aggregate("sum", by, f"avg_over_time({vector(key, sel)}[{window}])")

    return ratio(averaged("workers_busy"), averaged("workers_capacity"))


def abnormal_closes(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    return sum_rate("websocket_closes", by, matchers(sel, ABNORMAL_CLOSE), window)


def abnormal_close_ratio(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    return ratio(abnormal_closes(by, sel, window), sum_rate("websocket_closes", by, sel, window))


def slow_ratio(by: str = "", sel: str = "", window: str = RATE_INTERVAL) -> str:
    """Share of requests slower than the objective's bound."""
    within = sum_rate("duration", by, matchers(sel, f'le="{SLOW_BOUND}"'), window, "_bucket")
    inner = ratio(within, requests(by, sel, window)).replace("\n", "\n  ")
    return f"1 - (\n  {inner}\n)"


# -- recorded series (grafana/rules/gatewatch-recording.yml) ---------------------------------
# Named level:metric:operations; the metric part is the catalogue's where one metric is read.


def recorded(level: str, metric_part: str, operations: str) -> str:
    return f"{level}:{metric_part}:{operations}"


def _base(key: str) -> str:
    """A metric's name without its kind's suffix or its unit (``loop_blocks``: no ``_total``)."""
    spec = metric(key)
    return spec.family.removesuffix("_" + spec.unit) if spec.unit else spec.family


# The prefix every catalogue name starts with (the catalogue checks it), for the recorded
# series that combine several metrics.
_PREFIX: Final = series("duration").split("_", 1)[0] + "_"

REQUESTS_RATE: Final = recorded("interface_route_status", _PREFIX + "http_requests", "rate5m")
DURATION_BUCKETS: Final = recorded("interface_route_le", series("duration", "_bucket"), "rate5m")
DURATION_P95: Final = recorded("interface_route", series("duration"), "p95_rate5m")
BLOCKING_RATIO: Final = recorded("interface_route", _base("blocking"), "ratio_rate5m")
SERVER_ERROR_RATIO: Final = recorded("job_interface", _PREFIX + "http_requests_5xx", "ratio_rate5m")
# The objective's windows: those of the multiwindow burn-rate alerts.
SLO_WINDOWS: Final = ("5m", "30m", "1h", "6h")
SLOW_RATIO: Final[Mapping[str, str]] = MappingProxyType(
    {w: recorded("job_interface", _PREFIX + "http_request_slow", f"ratio_rate{w}") for w in SLO_WINDOWS}
)
LAG_BUCKETS: Final = recorded("instance_le", series("loop_lag", "_bucket"), "rate5m")
LAG_P99: Final = recorded("instance", series("loop_lag"), "p99_rate5m")
LOOP_BLOCKS_RATE: Final = recorded("instance_route", _base("loop_blocks"), "rate5m")
LOOP_BLOCKED_RATE: Final = recorded("instance_route", metric("loop_blocked").family, "rate5m")
WORKERS_UTILISATION: Final = recorded("instance", _PREFIX + "wsgi_workers", "utilisation_avg5m")
SATURATED_RATE: Final = recorded("instance", _base("saturated"), "rate5m")
ABNORMAL_CLOSES_RATE: Final = recorded("route", _base("websocket_closes") + "_abnormal", "rate10m")
ABNORMAL_CLOSES_RATIO: Final = recorded("route", _base("websocket_closes") + "_abnormal", "ratio_rate10m")


def burn_rate(window: str, sel: str = "") -> str:
    """How fast the latency budget is spent over ``window``: 1 spends it in exactly 30 days."""
    slow = f"{SLOW_RATIO[window]}{{{sel}}}" if sel else SLOW_RATIO[window]
    return f"{slow} / {SLO_BUDGET}"


# -- gatewatch top --prometheus: the fleet's Overview -------------------------------------------


def _as_interface(expr: str, interface: str) -> str:
    # A series without an interface label (loop lag is ASGI's, workers WSGI's) labelled as the
    # interface it belongs to, so the dashboard can place it in that interface's row.
    return f'label_replace({expr}, "interface", "{interface}", "", "")'


def fleet(window: str = "1m") -> dict[str, str]:
    """The dashboard's Overview over every instance a Prometheus server scrapes, by interface."""
    by = "interface"
    return {
        "rate": requests(by, window=window),
        "p50": quantile(0.5, "duration", by, window=window),
        "p95": quantile(0.95, "duration", by, window=window),
        "p99": quantile(0.99, "duration", by, window=window),
        "errors": server_error_ratio(by, window=window),
        "in_flight": total("in_flight", by),
        "concurrency": mean("concurrency", by, window=window),
        "blocking": blocking_share(by, window=window),
        "after": mean("after_response", by, window=window),
        "queue": mean("queue", by, window=window),
        "instances": aggregate("count", by, total("in_flight", "interface, instance", op="count")),
        "lag_p99": _as_interface(quantile(0.99, "loop_lag", window=window), "asgi"),
        "busy": _as_interface(total("workers_busy"), "wsgi"),
        "capacity": _as_interface(total("workers_capacity"), "wsgi"),
    }


# -- gatewatch top --prometheus: every instance's cumulative counters -------------------------
# The dashboard cuts its windows itself (the difference of two readings), so it reads the
# counters as they are, one instant vector per series summed per instance over the labels it
# does not show (method, a message's kind, a multiprocess pid): the numbers each instance's
# /metrics page holds.

# Every name a gatewatch exposition holds (a histogram's series: the name and a part): what
# tells a gatewatch page or instance from another exporter's.
EXPOSED: Final = frozenset(spec.name for spec in METRICS)
# prometheus-client's process collector (not gatewatch's): when the process started.
PROCESS_START: Final = "process_start_time_seconds"

_PER_INSTANCE: Final[tuple[tuple[str, Part, str], ...]] = (
    ("duration", "_count", "interface, route, status"),
    ("duration", "_bucket", "interface, route, le"),
    ("duration", "_sum", "interface, route"),
    ("route_blocking", "", "interface, route"),
    ("route_cpu", "", "interface, route"),
    ("route_cpu_samples", "", "interface, route"),
    ("route_offload", "", "interface, route"),
    ("concurrency", "_sum", "interface"),
    ("concurrency", "_count", "interface"),
    ("queue", "_sum", "interface"),
    ("queue", "_count", "interface"),
    ("after_response", "_sum", "interface"),
    ("after_response", "_count", "interface"),
    ("saturated", "", ""),
    ("loop_lag", "_bucket", "le"),
    ("loop_lag", "_sum", ""),
    ("loop_lag", "_count", ""),
    ("loop_blocks", "", "route"),
    ("loop_blocked", "", "route"),
    ("websocket_sessions", "", "route, outcome"),
    ("websocket_messages", "", "route, direction"),
    ("websocket_bytes", "", "route, direction"),
    # Gauges, now: requests in flight, WSGI threads per process, sessions open, the servers.
    ("in_flight", "", "interface"),
    ("workers_busy", "", "pid"),
    ("workers_capacity", "", "pid"),
    ("websocket_active", "", ""),
    ("internal_errors", "", ""),
)


def fleet_series(by: str = "instance") -> dict[str, str]:
    """Series name (as a ``/metrics`` page names it) -> the PromQL that reads it for every
    instance (``by``) a Prometheus server scrapes."""
    queries = {
        series(key, part): aggregate("sum", matchers(by, labels), vector(key, part=part))
        for key, part, labels in _PER_INSTANCE
    }
    queries[series("info")] = aggregate("max", matchers(by, "interface, server"), vector("info"))
    queries[PROCESS_START] = aggregate("min", by, PROCESS_START)
    return queries
