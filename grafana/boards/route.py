"""The route drill-down board: one route's latency with exemplars, blocking, CPU, time to first
byte, sizes, exceptions and its view. The busiest and slowest route tables link here."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from gatewatch import queries as q

from ._panels import (
    HTTP,
    LOOP_ROUTE,
    ROUTE,
    Panel,
    Target,
    board,
    bucket_heatmap,
    graph,
    instant_table,
    quantiles,
)

FILE = "gatewatch-route.json"
BY = "interface"
LEGEND = "{{interface}}"


def build() -> Dashboard:
    panels: list[Panel] = [
        graph(
            "Requests per second by status",
            "The route's requests by interface and status.",
            [Target(q.requests("interface, status", ROUTE), "{{interface}} {{status}}")],
            unit="reqps",
            stack=True,
        ),
        graph(
            "Latency p50 / p95 / p99",
            "The route's request duration quantiles. Exemplars (points on the lines) open the "
            "request's trace "
            "when the Prometheus datasource has a trace destination (see grafana/provisioning).",
            quantiles("duration", ROUTE, BY, LEGEND),
            unit="s",
            exemplar=True,
        ),
        bucket_heatmap(
            "Latency distribution",
            "The duration histogram's buckets over time.",
            [Target(q.sum_rate("duration", "le", ROUTE, part="_bucket"))],
            unit="s",
        ),
        graph(
            "Time to first byte p50 / p95 (all routes)",
            "Arrival until the first response body chunk was handed to the server. The distribution "
            'is the whole server\'s unless series="full".',
            quantiles("ttfb", HTTP, BY, LEGEND, (0.5, 0.95)),
            unit="s",
        ),
        graph(
            "Time holding the loop or worker per request",
            "The route's mean per request: the event loop (ASGI) or the worker (WSGI); the p99 is "
            'the whole server\'s unless series="full".',
            [
                Target(q.per_request("route_blocking", BY, ROUTE), LEGEND + " mean"),
                *quantiles("blocking", HTTP, BY, LEGEND + " all routes", (0.99,)),
            ],
            unit="s",
            width=8,
        ),
        graph(
            "CPU time per request",
            "On-CPU time of the request's thread, the route's mean over its sampled requests.",
            [Target(q.cpu_mean(BY, ROUTE), LEGEND)],
            unit="s",
            width=8,
        ),
        graph(
            "After-response time mean (all routes)",
            "Time the application went on after the response ended; the whole server's unless "
            'series="full".',
            [Target(q.mean("after_response", BY, HTTP), LEGEND)],
            unit="s",
            width=8,
        ),
        graph(
            "Body sizes (mean per request)",
            "Request body bytes read and response body bytes sent, per request.",
            [
                Target(q.per_request("request_bytes", BY, ROUTE), "{{interface}} request"),
                Target(q.per_request("response_bytes", BY, ROUTE), "{{interface}} response"),
            ],
            unit="bytes",
            width=8,
        ),
        graph(
            "Exceptions and disconnects per second",
            "Exceptions by type, and clients that left before the response ended.",
            [
                Target(
                    q.sum_rate("exceptions", "interface, exception", ROUTE), "{{interface}} {{exception}}"
                ),
                Target(q.sum_rate("disconnects", BY, ROUTE), "{{interface}} client left"),
            ],
            width=8,
        ),
        graph(
            "Thread offload and hops",
            "Mean wait on threads per request and hops per request (Django, anyio's to_thread).",
            [
                Target(q.per_request("route_offload", BY, ROUTE), "{{interface}} offload s/request"),
                Target(q.hops_per_request(BY, ROUTE), "{{interface}} hops/request"),
            ],
            width=8,
        ),
        graph(
            "Loop blocks per minute",
            "Blocks of the event loop longer than block_threshold attributed to this route.",
            [Target(q.per_minute("loop_blocks", "instance", LOOP_ROUTE), "{{instance}}")],
        ),
        instant_table(
            "View",
            "The view serving the route and whether it is sync or async (Django).",
            [Target(q.total("route_view", "interface, route, view, view_kind", ROUTE, op="max"))],
        ),
    ]
    return board(
        "gatewatch-route",
        "gatewatch / Route drill-down",
        "One route: latency with exemplars, blocking, CPU, time to first byte, sizes, "
        "exceptions and its view.",
        route_query=q.label_values("duration", "route", HTTP, "_count"),
        panels=panels,
        # One route at a time: the board is about a single route (the URL's var-route picks it).
        one_route=True,
    )
