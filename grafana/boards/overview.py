"""The overview board: WSGI and ASGI side by side (rates, errors, latency, concurrency, blocking)."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from gatewatch import queries as q

from ._panels import (
    HTTP,
    INSTANCE,
    ROUTE,
    Panel,
    Target,
    board,
    graph,
    instant_table,
    quantiles,
    route_link,
    single_stat,
)

FILE = "gatewatch-overview.json"
BY = "interface"
BY_ROUTE = "interface, route"
LEGEND = "{{interface}}"
# The objective's budget burn over the windows of the slow-burn and fast-burn alerts.
_SLO = 'job=~"$job", interface=~"$interface"'


def build() -> Dashboard:
    panels: list[Panel] = [
        graph(
            "Requests per second",
            "HTTP requests that ended, per second, by interface (WebSocket sessions are not requests).",
            [Target(q.requests(BY, ROUTE), LEGEND)],
            unit="reqps",
        ),
        graph(
            "Server errors (5xx) per second",
            "Responses with a 5xx status, by interface and status. 499 (the client left) is not counted.",
            [
                Target(
                    q.requests("interface, status", q.matchers(ROUTE, q.SERVER_ERROR)),
                    "{{interface}} {{status}}",
                )
            ],
            unit="reqps",
        ),
        graph(
            "Latency p50 / p95 / p99",
            "Quantiles of the request duration histogram (arrival until the response really "
            "ended), per interface. "
            "Exemplars link to traces when the datasource has a trace destination.",
            quantiles("duration", ROUTE, BY, LEGEND),
            unit="s",
            exemplar=True,
        ),
        graph(
            "5xx ratio",
            "Share of requests answered with a 5xx status, per interface (the "
            "GatewatchHigh5xxRatio alert watches this).",
            [Target(q.server_error_ratio(BY, ROUTE), LEGEND)],
            unit="percentunit",
            thresholds=[(0.05, "red")],
        ),
        graph(
            "Requests in flight",
            "HTTP requests being served now, summed over the selected instances, per interface.",
            [Target(q.total("in_flight", BY, HTTP), LEGEND)],
            width=8,
        ),
        graph(
            "Concurrency at arrival",
            "How many other requests each arrival found in flight in its process (mean and p99). "
            "Under WSGI the worker's threads bound it; under ASGI only the loop does.",
            [
                Target(q.mean("concurrency", BY, HTTP), "{{interface}} mean"),
                Target(q.quantile(0.99, "concurrency", BY, HTTP), "{{interface}} p99"),
            ],
            width=8,
        ),
        graph(
            "Blocking share",
            "Time requests held their worker (WSGI) or the event loop (ASGI) over their duration. "
            "WSGI is near 100 % by construction; an ASGI share above a few percent means "
            "synchronous work on the loop.",
            [Target(q.blocking_share(BY, ROUTE), LEGEND)],
            unit="percentunit",
            width=8,
        ),
        graph(
            "CPU share of request time",
            "On-CPU time of the request's thread over its duration, per request on average (CPU "
            "time is sampled under ASGI, so means are divided, not sums); the rest is waiting.",
            [Target(q.cpu_share(BY, ROUTE), LEGEND)],
            unit="percentunit",
            width=8,
        ),
        graph(
            "After-response time p95 (all routes)",
            "Time the application went on after the response ended (background tasks, Django's close hop, "
            "a WSGI iterable's close()); never part of the latency above. The distribution is the "
            'whole server\'s unless series="full".',
            quantiles("after_response", HTTP, BY, LEGEND, (0.95,)),
            unit="s",
            width=8,
        ),
        graph(
            "Exceptions and disconnects per second",
            "Exceptions the application raised (by type) and requests whose client left before "
            "the response ended.",
            [
                Target(
                    q.sum_rate("exceptions", "interface, exception", ROUTE), "{{interface}} {{exception}}"
                ),
                Target(q.sum_rate("disconnects", BY, ROUTE), "{{interface}} client left"),
            ],
            width=8,
        ),
        graph(
            "Body bytes per second",
            "Request body bytes the application read and response body bytes handed to the server.",
            [
                Target(q.sum_rate("request_bytes", BY, ROUTE), "{{interface}} in"),
                Target(q.sum_rate("response_bytes", BY, ROUTE), "{{interface}} out"),
            ],
            unit="Bps",
        ),
        graph(
            "Latency objective: error budget burn rate",
            "How fast the budget of the objective '99 % of requests within 500 ms' is spent, "
            "from the recording rules "
            "in grafana/rules (load them for this panel): 1 spends it in exactly 30 days; the "
            "fast-burn alert pages "
            "above 14.4 (1 h and 5 m windows), the slow-burn one above 6 (6 h and 30 m).",
            [
                Target(q.burn_rate("1h", _SLO), "{{job}} {{interface}} 1h"),
                Target(q.burn_rate("6h", _SLO), "{{job}} {{interface}} 6h"),
            ],
            thresholds=[(6, "orange"), (14.4, "red")],
        ),
        instant_table(
            "Busiest routes",
            "Requests per second of the busiest routes. Click a route to drill down.",
            [Target(q.topk(15, q.requests(BY_ROUTE, ROUTE)))],
            unit="reqps",
            links=[route_link()],
        ),
        instant_table(
            "Slowest routes (p95)",
            "Routes with the highest p95 latency over the interval. Click a route to drill down.",
            [Target(q.topk(15, q.quantile(0.95, "duration", BY_ROUTE, ROUTE)))],
            unit="s",
            links=[route_link()],
        ),
        instant_table(
            "Servers",
            "Processes exporting gatewatch, by interface, server and version.",
            [Target(q.total("info", "interface, server, version", HTTP, op="count"))],
            height=6,
        ),
        single_stat(
            "gatewatch internal errors",
            "Errors inside gatewatch itself (the application never sees them); should stay at 0.",
            [Target(q.increase("internal_errors", "instance", INSTANCE), "{{instance}}")],
            height=6,
            thresholds=[(1, "red")],
        ),
    ]
    return board(
        "gatewatch-overview",
        "gatewatch / WSGI vs ASGI overview",
        "Request and error rates, latency quantiles, concurrency and blocking share, per "
        "interface side by side.",
        route_query=q.label_values("duration", "route", HTTP, "_count"),
        panels=panels,
    )
