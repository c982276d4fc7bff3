"""The event loop and workers board: loop lag and blocks (ASGI), thread offload and hops, WSGI
workers busy against capacity, saturation and queue time."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from gatewatch import queries as q

from ._panels import HTTP, INSTANCE, LOOP_ROUTE, ROUTE, Panel, Target, board, graph, quantiles

FILE = "gatewatch-loop-workers.json"
BY_ROUTE = "interface, route"
ROUTE_LEGEND = "{{interface}} {{route}}"


def build() -> Dashboard:
    panels: list[Panel] = [
        graph(
            "Event loop lag p50 / p99",
            "How late the event loop ran a callback scheduled at a fixed interval, per instance (ASGI). "
            "A loop frozen by a 200 ms block shows a 200 ms sample, whoever blocked it.",
            quantiles("loop_lag", INSTANCE, "instance", "{{instance}}", (0.5, 0.99)),
            unit="s",
            thresholds=[(0.1, "red")],
        ),
        graph(
            "Loop blocks per minute, by route",
            "Synchronous steps that held the event loop longer than block_threshold, by the "
            "route that held it "
            "(<background> outside any request). The log and the live view have each block's stack.",
            [Target(q.per_minute("loop_blocks", "route", LOOP_ROUTE), "{{route}}")],
        ),
        graph(
            "Share of time the loop was blocked, by route",
            "Seconds per second the event loop spent in those blocking steps: 1 means frozen the whole time.",
            [Target(q.sum_rate("loop_blocked", "instance, route", LOOP_ROUTE), "{{instance}} {{route}}")],
            unit="percentunit",
            stack=True,
        ),
        graph(
            "Time holding the loop or worker per request, by route",
            "Per request: time on the event loop (ASGI, the sum of the coroutine's synchronous steps) "
            "or holding the worker (WSGI): each route's mean, and the p99 of all routes (per route "
            'with series="full").',
            [
                Target(q.per_request("route_blocking", BY_ROUTE, ROUTE), ROUTE_LEGEND + " mean"),
                Target(q.quantile(0.99, "blocking", "interface", HTTP), "{{interface}} p99, all routes"),
            ],
            unit="s",
        ),
        graph(
            "Thread offload",
            "Wall time requests waited on work handed to threads (sync_to_async, anyio's to_thread): "
            "each route's mean per request, and the p95 of all routes with how long that work queued "
            "for a free thread.",
            [
                Target(q.per_request("route_offload", BY_ROUTE, ROUTE), ROUTE_LEGEND + " mean"),
                Target(q.quantile(0.95, "offload", "interface", HTTP), "{{interface}} p95, all routes"),
                Target(q.quantile(0.95, "offload_queue", "interface", HTTP), "{{interface}} queued p95"),
            ],
            unit="s",
            width=8,
        ),
        graph(
            "Thread hops per request, by route",
            "Crossings between the event loop and threads per request with hand-offs tracked. "
            "Django under ASGI "
            "makes about 4 for an async view and 5 for a sync one.",
            [Target(q.hops_per_request(BY_ROUTE, ROUTE), ROUTE_LEGEND)],
            width=8,
        ),
        graph(
            "Thread hops per second",
            "All crossings between the event loop and threads, per interface.",
            [Target(q.sum_rate("thread_hops", "interface", ROUTE), "{{interface}}")],
            width=8,
        ),
        graph(
            "WSGI workers busy vs capacity",
            "Busy worker threads against the threads the processes have, per instance (summed "
            "over gunicorn's workers).",
            [
                Target(q.total("workers_busy", "instance", INSTANCE), "{{instance}} busy"),
                Target(q.total("workers_capacity", "instance", INSTANCE), "{{instance}} capacity"),
            ],
            width=8,
        ),
        graph(
            "WSGI worker utilisation",
            "Busy over capacity, averaged over the interval; at 100 % new requests wait in the "
            "server's queue "
            "(the GatewatchWSGIWorkersSaturated alert watches this).",
            [Target(q.worker_utilisation("instance", INSTANCE), "{{instance}}")],
            unit="percentunit",
            width=8,
            thresholds=[(0.9, "red")],
        ),
        graph(
            "Saturated requests per second",
            "WSGI requests that took their process's last free worker thread: arrivals after them wait.",
            [Target(q.sum_rate("saturated", "instance", INSTANCE), "{{instance}}")],
            unit="reqps",
            width=8,
        ),
        graph(
            "Queue time before the app p50 / p95",
            "Time requests waited between the proxy's X-Request-Start stamp and the application "
            "(only requests "
            "carrying the header; WSGI reads it by default).",
            quantiles("queue", HTTP, "interface", "{{interface}}", (0.5, 0.95)),
            unit="s",
        ),
        graph(
            "CPU share by route",
            "On-CPU time over duration per route: low under WSGI means the worker is held while waiting.",
            [Target(q.cpu_share(BY_ROUTE, ROUTE), ROUTE_LEGEND)],
            unit="percentunit",
        ),
    ]
    return board(
        "gatewatch-loop-workers",
        "gatewatch / Event loop and workers",
        "Event-loop lag and blocks (ASGI), thread offload and hops, WSGI workers busy against capacity, "
        "saturation and queue time.",
        route_query=q.label_values("duration", "route", HTTP, "_count"),
        panels=panels,
    )
