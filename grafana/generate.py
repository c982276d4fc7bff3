"""Write gatewatch's Grafana dashboards (``grafana/dashboards/*.json``) from one description.

The JSON files are what users import; this script is where they are edited, so every board
has the same variables, the same datasource reference on every panel and target, and a
layout without overlaps. Run it from a checkout after a change::

    python grafana/generate.py          # rewrite the JSON files
    python grafana/generate.py --check  # exit 1 when a file differs from what it would write

``tests/grafana/test_grafana_dashboards.py`` fails when the committed JSON and this script differ.
Every metric name used here is a name from ``gatewatch/catalogue.py`` (or a recording rule in
``grafana/rules/``); the tests check that too.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "dashboards"

SCHEMA_VERSION = 39  # Grafana 10.3 / 11.x dashboard schema
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"

# Label selectors, built from the board's variables.
INSTANCE = 'job=~"$job", instance=~"$instance"'
HTTP = INSTANCE + ', interface=~"$interface"'
ROUTE = HTTP + ', route=~"$route"'
LOOP_ROUTE = INSTANCE + ', route=~"$route"'
SERVER_ERRORS = ROUTE + ', status=~"5.."'
# WebSocket close codes that mean something went wrong (not 1000/1001, nor 1012/1013: restarts).
ABNORMAL_CLOSE = LOOP_ROUTE + ', code=~"1005|1006|1011|1014|1015"'

DURATION = "gatewatch_http_request_duration_seconds"
BLOCKING = "gatewatch_http_request_blocking_seconds"
CPU = "gatewatch_http_request_cpu_seconds"
TTFB = "gatewatch_http_time_to_first_byte_seconds"
AFTER = "gatewatch_http_request_after_response_seconds"
OFFLOAD = "gatewatch_http_request_offload_seconds"
OFFLOAD_QUEUE = "gatewatch_http_request_offload_queue_seconds"
QUEUE = "gatewatch_http_request_queue_seconds"
CONCURRENCY = "gatewatch_http_concurrency_at_arrival"
LAG = "gatewatch_event_loop_lag_seconds"

# The latency objective of the burn-rate alerts (grafana/rules): 99 % within 500 ms.
SLO_BUDGET = 0.01
SLO_RATIO = "job_interface:gatewatch_http_request_slow:ratio_rate"  # + window, recorded
SLO_SELECTOR = 'job=~"$job", interface=~"$interface"'
WORKERS_BUSY = "gatewatch_wsgi_workers_busy"
WORKERS_CAPACITY = "gatewatch_wsgi_workers_capacity"


def rate(series: str, selector: str) -> str:
    return f"rate({series}{{{selector}}}[{RATE}])"


def sum_rate(series: str, selector: str, by: str) -> str:
    return f"sum by ({by}) ({rate(series, selector)})"


def quantile(q: float, histogram: str, selector: str, by: str) -> str:
    grouping = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({grouping}) ({rate(histogram + '_bucket', selector)}))"


def mean(histogram: str, selector: str, by: str) -> str:
    return f"{sum_rate(histogram + '_sum', selector, by)}\n/\n{sum_rate(histogram + '_count', selector, by)}"


def quantiles(histogram: str, selector: str, by: str, label: str) -> list[Target]:
    return [
        Target(quantile(q, histogram, selector, by), f"{label} p{round(q * 100)}") for q in (0.5, 0.95, 0.99)
    ]


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""
    instant: bool = False  # tables: one value per series, now


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    targets: list[Target]
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat | table | heatmap
    width: int = 12
    height: int = 8
    exemplar: bool = False  # latency panels: exemplars link to traces (see provisioning)
    stack: bool = False
    links: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[tuple[float, str]] = field(default_factory=list)


def variables(route_source: str) -> list[dict[str, Any]]:
    """The board's variables: datasource, job, instance, interface, route (all multi-value)."""

    def query(name: str, label: str, definition: str, *, multi: bool = True) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DATASOURCE,
            "definition": definition,
            "query": {"query": definition, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,  # on time range change: new instances and routes appear
            "includeAll": True,
            "allValue": ".*",
            "multi": multi,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "regex": "",
            "sort": 1,
            "hide": 0,
        }

    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "options": [],
            "refresh": 1,
            "regex": "",
            "includeAll": False,
            "multi": False,
            "hide": 0,
        },
        query("job", "Job", "label_values(gatewatch_info, job)"),
        query("instance", "Instance", 'label_values(gatewatch_info{job=~"$job"}, instance)'),
        query(
            "interface",
            "Interface",
            'label_values(gatewatch_info{job=~"$job", instance=~"$instance"}, interface)',
        ),
        query("route", "Route", route_source),
    ]


def board_links() -> list[dict[str, Any]]:
    return [
        {
            "type": "dashboards",
            "tags": ["gatewatch"],
            "asDropdown": True,
            "title": "gatewatch boards",
            "includeVars": True,
            "keepTime": True,
            "icon": "external link",
            "targetBlank": False,
            "tooltip": "",
            "url": "",
        }
    ]


def route_link() -> dict[str, Any]:
    """A data link from a row of a per-route table to the drill-down board for that route."""
    return {
        "title": "Drill down into ${__data.fields.route}",
        "url": "/d/gatewatch-route/gatewatch-route-drill-down?${datasource:queryparam}&${job:queryparam}"
        ""
        "&${instance:queryparam}&${interface:queryparam}&var-route=${__data.fields.route}&${__url_time_range}",
    }


def render_panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = []
    for index, target in enumerate(panel.targets):
        rendered: dict[str, Any] = {
            "refId": chr(ord("A") + index),
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": target.expr,
            "legendFormat": target.legend or "__auto",
            "range": not (target.instant or panel.kind == "table"),
            "instant": target.instant or panel.kind == "table",
        }
        if panel.kind == "table":
            rendered["format"] = "table"
        if panel.kind == "heatmap":
            rendered["format"] = "heatmap"
            rendered["legendFormat"] = "{{le}}"
        if panel.exemplar:
            rendered["exemplar"] = True
        targets.append(rendered)
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": color, "value": value} for value, color in panel.thresholds]
    defaults: dict[str, Any] = {
        "unit": panel.unit,
        "thresholds": {"mode": "absolute", "steps": steps},
        "links": panel.links,
    }
    options: dict[str, Any]
    if panel.kind == "timeseries":
        defaults["color"] = {"mode": "palette-classic"}
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10 if not panel.stack else 40,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "line" if panel.thresholds else "off"},
        }
        options = {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
                "calcs": ["mean", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif panel.kind == "stat":
        defaults["color"] = {"mode": "thresholds"}
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        }
    elif panel.kind == "table":
        defaults["custom"] = {"align": "auto", "cellOptions": {"type": "auto"}}
        options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"]}}
    elif panel.kind == "heatmap":
        options = {
            "calculate": False,
            "cellGap": 1,
            "color": {
                "mode": "scheme",
                "scheme": "Oranges",
                "steps": 64,
                "exponent": 0.5,
                "fill": "dark-orange",
            },
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "filterValues": {"le": 1e-9},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
            "yAxis": {"axisPlacement": "left", "unit": panel.unit, "reverse": False},
            "legend": {"show": True},
        }
    else:
        raise ValueError(f"unknown panel kind {panel.kind!r}")
    rendered_panel: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }
    if panel.kind == "table":
        rendered_panel["transformations"] = [
            {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": {}}}
        ]
    return rendered_panel


def layout(panels: list[Panel]) -> list[dict[str, Any]]:
    """Left to right, wrapping at Grafana's 24 columns; each row as tall as its tallest panel."""
    out = []
    x = y = row_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        out.append(render_panel(panel, panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return out


def dashboard(
    uid: str, title: str, description: str, route_source: str, panels: list[Panel]
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["gatewatch"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "id": None,
        "editable": True,
        "graphTooltip": 1,  # shared crosshair
        "liveNow": False,
        "fiscalYearStartMonth": 0,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "weekStart": "",
        "links": board_links(),
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": variables(route_source)},
        "panels": layout(panels),
    }


HTTP_ROUTES = f"label_values({DURATION}_count{{{HTTP}}}, route)"


def overview() -> dict[str, Any]:
    by = "interface"
    panels = [
        Panel(
            "Requests per second",
            "HTTP requests that ended, per second, by interface (WebSocket sessions are not requests).",
            [Target(sum_rate(DURATION + "_count", ROUTE, by), "{{interface}}")],
            unit="reqps",
        ),
        Panel(
            "Server errors (5xx) per second",
            "Responses with a 5xx status, by interface and status. 499 (the client left) is not counted.",
            [
                Target(
                    sum_rate(DURATION + "_count", SERVER_ERRORS, "interface, status"),
                    "{{interface}} {{status}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "Latency p50 / p95 / p99",
            "Quantiles of the request duration histogram (arrival until the response really "
            "ended), per interface. "
            "Exemplars link to traces when the datasource has a trace destination.",
            quantiles(DURATION, ROUTE, by, "{{interface}}"),
            unit="s",
            exemplar=True,
        ),
        Panel(
            "5xx ratio",
            "Share of requests answered with a 5xx status, per interface (the "
            "GatewatchHigh5xxRatio alert watches this).",
            [
                Target(
                    f"{sum_rate(DURATION + '_count', SERVER_ERRORS, by)}\n/\n"
                    f"{sum_rate(DURATION + '_count', ROUTE, by)}",
                    "{{interface}}",
                )
            ],
            unit="percentunit",
            thresholds=[(0.05, "red")],
        ),
        Panel(
            "Requests in flight",
            "HTTP requests being served now, summed over the selected instances, per interface.",
            [Target(f"sum by (interface) (gatewatch_http_requests_in_flight{{{HTTP}}})", "{{interface}}")],
            width=8,
        ),
        Panel(
            "Concurrency at arrival",
            "How many other requests each arrival found in flight in its process (mean and p99). "
            "Under WSGI the worker's threads bound it; under ASGI only the loop does.",
            [
                Target(mean(CONCURRENCY, HTTP, by), "{{interface}} mean"),
                Target(quantile(0.99, CONCURRENCY, HTTP, by), "{{interface}} p99"),
            ],
            width=8,
        ),
        Panel(
            "Blocking share",
            "Time requests held their worker (WSGI) or the event loop (ASGI) over their duration. "
            "WSGI is near 100 % by construction; an ASGI share above a few percent means "
            "synchronous work on the loop.",
            [
                Target(
                    f"{sum_rate(BLOCKING + '_sum', ROUTE, by)}\n/\n{sum_rate(DURATION + '_sum', ROUTE, by)}",
                    "{{interface}}",
                )
            ],
            unit="percentunit",
            width=8,
        ),
        Panel(
            "CPU share of request time",
            "On-CPU time of the request's thread over its duration, per request on average (CPU "
            "time is sampled under ASGI, so means are divided, not sums); the rest is waiting.",
            [
                Target(
                    f"({mean(CPU, ROUTE, by)})\n/\n({mean(DURATION, ROUTE, by)})",
                    "{{interface}}",
                )
            ],
            unit="percentunit",
            width=8,
        ),
        Panel(
            "After-response time p95",
            "Time the application went on after the response ended (background tasks, Django's close hop, "
            "a WSGI iterable's close()); never part of the latency above.",
            [Target(quantile(0.95, AFTER, ROUTE, by), "{{interface}} p95")],
            unit="s",
            width=8,
        ),
        Panel(
            "Exceptions and disconnects per second",
            "Exceptions the application raised (by type) and requests whose client left before "
            "the response ended.",
            [
                Target(
                    sum_rate("gatewatch_http_exceptions_total", ROUTE, "interface, exception"),
                    "{{interface}} {{exception}}",
                ),
                Target(sum_rate("gatewatch_http_disconnects_total", ROUTE, by), "{{interface}} client left"),
            ],
            width=8,
        ),
        Panel(
            "Body bytes per second",
            "Request body bytes the application read and response body bytes handed to the server.",
            [
                Target(sum_rate("gatewatch_http_request_body_bytes_total", ROUTE, by), "{{interface}} in"),
                Target(sum_rate("gatewatch_http_response_body_bytes_total", ROUTE, by), "{{interface}} out"),
            ],
            unit="Bps",
            width=12,
        ),
        Panel(
            "Latency objective: error budget burn rate",
            "How fast the budget of the objective '99 % of requests within 500 ms' is spent, "
            "from the recording rules "
            "in grafana/rules (load them for this panel): 1 spends it in exactly 30 days; the "
            "fast-burn alert pages "
            "above 14.4 (1 h and 5 m windows), the slow-burn one above 6 (6 h and 30 m).",
            [
                Target(
                    f"{SLO_RATIO}1h{{{SLO_SELECTOR}}} / {SLO_BUDGET}",
                    "{{job}} {{interface}} 1h",
                ),
                Target(
                    f"{SLO_RATIO}6h{{{SLO_SELECTOR}}} / {SLO_BUDGET}",
                    "{{job}} {{interface}} 6h",
                ),
            ],
            thresholds=[(6, "orange"), (14.4, "red")],
            width=12,
        ),
        Panel(
            "Busiest routes",
            "Requests per second of the busiest routes. Click a route to drill down.",
            [
                Target(
                    f"topk(15, {sum_rate(DURATION + '_count', ROUTE, 'interface, route')})", "", instant=True
                ),
            ],
            unit="reqps",
            kind="table",
            width=12,
            links=[route_link()],
        ),
        Panel(
            "Slowest routes (p95)",
            "Routes with the highest p95 latency over the interval. Click a route to drill down.",
            [Target(f"topk(15, {quantile(0.95, DURATION, ROUTE, 'interface, route')})", "", instant=True)],
            unit="s",
            kind="table",
            width=12,
            links=[route_link()],
        ),
        Panel(
            "Servers",
            "Processes exporting gatewatch, by interface, server and version.",
            [Target(f"count by (interface, server, version) (gatewatch_info{{{HTTP}}})", "", instant=True)],
            kind="table",
            width=12,
            height=6,
        ),
        Panel(
            "gatewatch internal errors",
            "Errors inside gatewatch itself (the application never sees them); should stay at 0.",
            [
                Target(
                    f"sum by (instance) (increase(gatewatch_internal_errors_total{{{INSTANCE}}}[{RATE}]))",
                    "{{instance}}",
                )
            ],
            kind="stat",
            width=12,
            height=6,
            thresholds=[(1, "red")],
        ),
    ]
    return dashboard(
        "gatewatch-overview",
        "gatewatch / WSGI vs ASGI overview",
        "Request and error rates, latency quantiles, concurrency and blocking share, per "
        "interface side by side.",
        HTTP_ROUTES,
        panels,
    )


def loop_and_workers() -> dict[str, Any]:
    panels = [
        Panel(
            "Event loop lag p50 / p99",
            "How late the event loop ran a callback scheduled at a fixed interval, per instance (ASGI). "
            "A loop frozen by a 200 ms block shows a 200 ms sample, whoever blocked it.",
            [
                Target(quantile(0.5, LAG, INSTANCE, "instance"), "{{instance}} p50"),
                Target(quantile(0.99, LAG, INSTANCE, "instance"), "{{instance}} p99"),
            ],
            unit="s",
            thresholds=[(0.1, "red")],
        ),
        Panel(
            "Loop blocks per minute, by route",
            "Synchronous steps that held the event loop longer than block_threshold, by the "
            "route that held it "
            "(<background> outside any request). The log and the live view have each block's stack.",
            [
                Target(
                    f"60 * {sum_rate('gatewatch_event_loop_blocks_total', LOOP_ROUTE, 'route')}",
                    "{{route}}",
                )
            ],
            unit="short",
        ),
        Panel(
            "Share of time the loop was blocked, by route",
            "Seconds per second the event loop spent in those blocking steps: 1 means frozen the whole time.",
            [
                Target(
                    sum_rate("gatewatch_event_loop_blocked_seconds_total", LOOP_ROUTE, "instance, route"),
                    "{{instance}} {{route}}",
                )
            ],
            unit="percentunit",
            stack=True,
        ),
        Panel(
            "Time holding the loop or worker p99, by route",
            "Per request: time on the event loop (ASGI, the sum of the coroutine's synchronous steps) "
            "or holding the worker (WSGI).",
            [Target(quantile(0.99, BLOCKING, ROUTE, "interface, route"), "{{interface}} {{route}}")],
            unit="s",
        ),
        Panel(
            "Thread offload p95, by route",
            "Wall time requests waited on work handed to threads (sync_to_async, anyio's to_thread), "
            "and how long that work queued for a free thread.",
            [
                Target(quantile(0.95, OFFLOAD, ROUTE, "interface, route"), "{{interface}} {{route}} offload"),
                Target(
                    quantile(0.95, OFFLOAD_QUEUE, ROUTE, "interface, route"), "{{interface}} {{route}} queued"
                ),
            ],
            unit="s",
            width=8,
        ),
        Panel(
            "Thread hops per request, by route",
            "Crossings between the event loop and threads per request with hand-offs tracked. "
            "Django under ASGI "
            "makes about 4 for an async view and 5 for a sync one.",
            [
                Target(
                    f"{sum_rate('gatewatch_http_request_thread_hops_total', ROUTE, 'interface, route')}\n/\n"
                    f"{sum_rate(OFFLOAD + '_count', ROUTE, 'interface, route')}",
                    "{{interface}} {{route}}",
                )
            ],
            width=8,
        ),
        Panel(
            "Thread hops per second",
            "All crossings between the event loop and threads, per interface.",
            [
                Target(
                    sum_rate("gatewatch_http_request_thread_hops_total", ROUTE, "interface"), "{{interface}}"
                )
            ],
            width=8,
        ),
        Panel(
            "WSGI workers busy vs capacity",
            "Busy worker threads against the threads the processes have, per instance (summed "
            "over gunicorn's workers).",
            [
                Target(f"sum by (instance) (gatewatch_wsgi_workers_busy{{{INSTANCE}}})", "{{instance}} busy"),
                Target(
                    f"sum by (instance) (gatewatch_wsgi_workers_capacity{{{INSTANCE}}})",
                    "{{instance}} capacity",
                ),
            ],
            width=8,
        ),
        Panel(
            "WSGI worker utilisation",
            "Busy over capacity, averaged over the interval; at 100 % new requests wait in the "
            "server's queue "
            "(the GatewatchWSGIWorkersSaturated alert watches this).",
            [
                Target(
                    f"sum by (instance) (avg_over_time({WORKERS_BUSY}{{{INSTANCE}}}[{RATE}]))\n/\n"
                    f"sum by (instance) (avg_over_time({WORKERS_CAPACITY}{{{INSTANCE}}}[{RATE}]))",
                    "{{instance}}",
                )
            ],
            unit="percentunit",
            width=8,
            thresholds=[(0.9, "red")],
        ),
        Panel(
            "Saturated requests per second",
            "WSGI requests that took their process's last free worker thread: arrivals after them wait.",
            [
                Target(
                    sum_rate("gatewatch_wsgi_saturated_requests_total", INSTANCE, "instance"),
                    "{{instance}}",
                )
            ],
            unit="reqps",
            width=8,
        ),
        Panel(
            "Queue time before the app p50 / p95",
            "Time requests waited between the proxy's X-Request-Start stamp and the application "
            "(only requests "
            "carrying the header; WSGI reads it by default).",
            [
                Target(quantile(0.5, QUEUE, HTTP, "interface"), "{{interface}} p50"),
                Target(quantile(0.95, QUEUE, HTTP, "interface"), "{{interface}} p95"),
            ],
            unit="s",
        ),
        Panel(
            "CPU share by route",
            "On-CPU time over duration per route: low under WSGI means the worker is held while waiting.",
            [
                Target(
                    f"({mean(CPU, ROUTE, 'interface, route')})\n/\n"
                    f"({mean(DURATION, ROUTE, 'interface, route')})",
                    "{{interface}} {{route}}",
                )
            ],
            unit="percentunit",
        ),
    ]
    return dashboard(
        "gatewatch-loop-workers",
        "gatewatch / Event loop and workers",
        "Event-loop lag and blocks (ASGI), thread offload and hops, WSGI workers busy against capacity, "
        "saturation and queue time.",
        f"label_values({BLOCKING}_count{{{HTTP}}}, route)",
        panels,
    )


def websockets() -> dict[str, Any]:
    ws = LOOP_ROUTE
    panels = [
        Panel(
            "Active sessions, by route",
            "WebSocket sessions accepted and not yet closed.",
            [Target(f"sum by (route) (gatewatch_websocket_sessions_active{{{ws}}})", "{{route}}")],
            stack=True,
        ),
        Panel(
            "HTTP requests in flight vs WebSocket sessions",
            "What holds the server now: HTTP requests per interface next to open WebSocket sessions.",
            [
                Target(
                    f"sum by (interface) (gatewatch_http_requests_in_flight{{{HTTP}}})", "HTTP {{interface}}"
                ),
                Target(f"sum(gatewatch_websocket_sessions_active{{{ws}}})", "WebSocket sessions"),
            ],
        ),
        Panel(
            "Sessions by outcome per second",
            "accepted; rejected (closed or denied before accept); failed (the app raised before accept).",
            [Target(sum_rate("gatewatch_websocket_sessions_total", ws, "outcome"), "{{outcome}}")],
            unit="short",
            width=8,
        ),
        Panel(
            "Messages per second",
            "By direction (received/sent) and kind (text/binary).",
            [
                Target(
                    sum_rate("gatewatch_websocket_messages_total", ws, "direction, kind"),
                    "{{direction}} {{kind}}",
                )
            ],
            width=8,
        ),
        Panel(
            "Message bytes per second",
            "Payload bytes by direction (text counted as UTF-8).",
            [Target(sum_rate("gatewatch_websocket_message_bytes_total", ws, "direction"), "{{direction}}")],
            unit="Bps",
            width=8,
        ),
        Panel(
            "Closes by code and initiator",
            "Closed sessions per second: client when the client closed first, server when the app did. "
            "1000 is normal; 1006 a dropped connection; 1011 the app raised; uvicorn reports an "
            "aborted connection as 1005.",
            [
                Target(
                    sum_rate("gatewatch_websocket_closes_total", ws, "code, initiator"),
                    "{{code}} {{initiator}}",
                )
            ],
        ),
        Panel(
            "Abnormal close ratio, by route",
            "Closes with code 1005, 1006, 1011, 1014 or 1015 over all closes (the "
            "GatewatchWebSocketAbnormalCloses alert watches this).",
            [
                Target(
                    f"{sum_rate('gatewatch_websocket_closes_total', ABNORMAL_CLOSE, 'route')}"
                    f"\n/\n{sum_rate('gatewatch_websocket_closes_total', ws, 'route')}",
                    "{{route}}",
                )
            ],
            unit="percentunit",
            thresholds=[(0.1, "red")],
        ),
        Panel(
            "Session duration p50 / p95",
            "Time from accept to close.",
            [
                Target(
                    quantile(0.5, "gatewatch_websocket_session_duration_seconds", ws, "route"),
                    "{{route}} p50",
                ),
                Target(
                    quantile(0.95, "gatewatch_websocket_session_duration_seconds", ws, "route"),
                    "{{route}} p95",
                ),
            ],
            unit="s",
            width=8,
        ),
        Panel(
            "Session time on the loop p99",
            "Time a session's coroutine held the event loop over the whole session.",
            [
                Target(
                    quantile(0.99, "gatewatch_websocket_session_blocking_seconds", ws, "route"),
                    "{{route}} p99",
                )
            ],
            unit="s",
            width=8,
        ),
        Panel(
            "Exceptions in sessions per second",
            "Exceptions the application raised during WebSocket sessions, by route and type.",
            [
                Target(
                    sum_rate("gatewatch_websocket_exceptions_total", ws, "route, exception"),
                    "{{route}} {{exception}}",
                )
            ],
            width=8,
        ),
    ]
    return dashboard(
        "gatewatch-websockets",
        "gatewatch / WebSockets",
        "WebSocket sessions: active, outcomes, messages and bytes, closes by code and initiator, duration.",
        f"label_values(gatewatch_websocket_sessions_total{{{INSTANCE}}}, route)",
        panels,
    )


def route_drill_down() -> dict[str, Any]:
    by = "interface"
    panels = [
        Panel(
            "Requests per second by status",
            "The route's requests by interface and status.",
            [Target(sum_rate(DURATION + "_count", ROUTE, "interface, status"), "{{interface}} {{status}}")],
            unit="reqps",
            stack=True,
        ),
        Panel(
            "Latency p50 / p95 / p99",
            "The route's request duration quantiles. Exemplars (points on the lines) open the "
            "request's trace "
            "when the Prometheus datasource has a trace destination (see grafana/provisioning).",
            quantiles(DURATION, ROUTE, by, "{{interface}}"),
            unit="s",
            exemplar=True,
        ),
        Panel(
            "Latency distribution",
            "The duration histogram's buckets over time.",
            [Target(f"sum by (le) ({rate(DURATION + '_bucket', ROUTE)})")],
            unit="s",
            kind="heatmap",
            exemplar=True,
        ),
        Panel(
            "Time to first byte p50 / p95",
            "Arrival until the first response body chunk was handed to the server.",
            [
                Target(quantile(0.5, TTFB, ROUTE, by), "{{interface}} p50"),
                Target(quantile(0.95, TTFB, ROUTE, by), "{{interface}} p95"),
            ],
            unit="s",
        ),
        Panel(
            "Time holding the loop or worker p50 / p99",
            "Per request: the event loop (ASGI) or the worker (WSGI).",
            [
                Target(quantile(0.5, BLOCKING, ROUTE, by), "{{interface}} p50"),
                Target(quantile(0.99, BLOCKING, ROUTE, by), "{{interface}} p99"),
            ],
            unit="s",
            width=8,
        ),
        Panel(
            "CPU time p50 / p95",
            "On-CPU time of the request's thread.",
            [
                Target(quantile(0.5, CPU, ROUTE, by), "{{interface}} p50"),
                Target(quantile(0.95, CPU, ROUTE, by), "{{interface}} p95"),
            ],
            unit="s",
            width=8,
        ),
        Panel(
            "After-response time mean",
            "Time the application went on after the response ended.",
            [Target(mean(AFTER, ROUTE, by), "{{interface}}")],
            unit="s",
            width=8,
        ),
        Panel(
            "Body sizes (mean per request)",
            "Request body bytes read and response body bytes sent, per request.",
            [
                Target(
                    f"{sum_rate('gatewatch_http_request_body_bytes_total', ROUTE, by)}\n/\n"
                    f"{sum_rate(DURATION + '_count', ROUTE, by)}",
                    "{{interface}} request",
                ),
                Target(
                    f"{sum_rate('gatewatch_http_response_body_bytes_total', ROUTE, by)}\n/\n"
                    f"{sum_rate(DURATION + '_count', ROUTE, by)}",
                    "{{interface}} response",
                ),
            ],
            unit="bytes",
            width=8,
        ),
        Panel(
            "Exceptions and disconnects per second",
            "Exceptions by type, and clients that left before the response ended.",
            [
                Target(
                    sum_rate("gatewatch_http_exceptions_total", ROUTE, "interface, exception"),
                    "{{interface}} {{exception}}",
                ),
                Target(sum_rate("gatewatch_http_disconnects_total", ROUTE, by), "{{interface}} client left"),
            ],
            width=8,
        ),
        Panel(
            "Thread offload and hops",
            "Mean wait on threads per request and hops per request (Django, anyio's to_thread).",
            [
                Target(mean(OFFLOAD, ROUTE, by), "{{interface}} offload s/request"),
                Target(
                    f"{sum_rate('gatewatch_http_request_thread_hops_total', ROUTE, by)}\n/\n"
                    f"{sum_rate(OFFLOAD + '_count', ROUTE, by)}",
                    "{{interface}} hops/request",
                ),
            ],
            width=8,
        ),
        Panel(
            "Loop blocks per minute",
            "Blocks of the event loop longer than block_threshold attributed to this route.",
            [
                Target(
                    f"60 * {sum_rate('gatewatch_event_loop_blocks_total', LOOP_ROUTE, 'instance')}",
                    "{{instance}}",
                )
            ],
            width=12,
        ),
        Panel(
            "View",
            "The view serving the route and whether it is sync or async (Django).",
            [
                Target(
                    f"max by (interface, route, view, view_kind) (gatewatch_route_view_info{{{ROUTE}}})",
                    "",
                    instant=True,
                )
            ],
            kind="table",
            width=12,
        ),
    ]
    board = dashboard(
        "gatewatch-route",
        "gatewatch / Route drill-down",
        "One route: latency with exemplars, blocking, CPU, time to first byte, sizes, "
        "exceptions and its view.",
        HTTP_ROUTES,
        panels,
    )
    route = board["templating"]["list"][-1]
    # One route at a time: the board is about a single route (the URL's var-route picks it).
    route.update(includeAll=False, multi=False, current={})
    return board


BOARDS = {
    "gatewatch-overview.json": overview,
    "gatewatch-loop-workers.json": loop_and_workers,
    "gatewatch-websockets.json": websockets,
    "gatewatch-route.json": route_drill_down,
}


def render() -> dict[str, str]:
    """Every board's file name and JSON text."""
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in BOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUTPUT / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            OUTPUT.mkdir(exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
