"""The recording rules (``grafana/rules/gatewatch-recording.yml``): what the boards compute most
often and what the alerts read, recorded at fixed windows under the names of
:mod:`gatewatch.queries`."""

from __future__ import annotations

from gatewatch import queries as q

from ._rule_files import Group, Recording, render

FILE = "gatewatch-recording.yml"

HEADER = (
    "Recording rules for gatewatch's metrics, written by python grafana/generate.py from "
    "grafana/recording_rules.py and gatewatch/queries.py (edit those, not this file). "
    "They record, at fixed windows, what the boards in grafana/dashboards compute most often "
    "and what the alerts in gatewatch-alerts.yml read. Names follow Prometheus's "
    "level:metric:operations convention; every series keeps job (and instance where the level "
    "says so). Load this file before gatewatch-alerts.yml (rule_files: in prometheus.yml)."
)

_ROUTE = "job, instance, interface, route"


def _http() -> Group:
    return Group(
        "gatewatch-http",
        [
            Recording(
                q.REQUESTS_RATE,
                q.requests(_ROUTE + ", status", window="5m"),
                "Requests per second by route and status.",
            ),
            Recording(
                q.DURATION_BUCKETS,
                q.sum_rate("duration", _ROUTE + ", le", window="5m", part="_bucket"),
                "Duration buckets per route, for histogram_quantile().",
            ),
            Recording(q.DURATION_P95, q.quantile_of(0.95, q.DURATION_BUCKETS)),
            Recording(
                q.BLOCKING_RATIO,
                q.blocking_share(_ROUTE, window="5m"),
                "Time holding the worker (WSGI) or the event loop (ASGI) over the request time.",
            ),
            Recording(
                q.SERVER_ERROR_RATIO,
                q.server_error_ratio("job, interface", window="5m"),
                "Share of 5xx responses (GatewatchHigh5xxRatio).",
            ),
        ],
    )


def _latency_objective() -> Group:
    return Group(
        "gatewatch-latency-objective",
        [
            Recording(q.SLOW_RATIO[window], q.slow_ratio("job, interface", window=window))
            for window in q.SLO_WINDOWS
        ],
        f"The latency objective: 99 % of requests end within {float(q.SLOW_BOUND) * 1000:.0f} ms "
        f'(the le="{q.SLOW_BOUND}" bucket of the default duration buckets; with buckets= changed, '
        "pick one of yours). The ratio is the share of requests slower than that, over the windows "
        "of the multiwindow burn-rate alerts.",
    )


def _event_loop() -> Group:
    return Group(
        "gatewatch-event-loop",
        [
            Recording(
                q.LAG_BUCKETS, q.sum_rate("loop_lag", "job, instance, le", window="5m", part="_bucket")
            ),
            Recording(
                q.LAG_P99,
                q.quantile_of(0.99, q.LAG_BUCKETS),
                "p99 loop lag per instance (GatewatchEventLoopLagHigh).",
            ),
            Recording(
                q.LOOP_BLOCKS_RATE,
                q.sum_rate("loop_blocks", "job, instance, route", window="5m"),
                "Blocks of the loop per second, by the route that held it (GatewatchEventLoopBlocked).",
            ),
            Recording(
                q.LOOP_BLOCKED_RATE,
                q.sum_rate("loop_blocked", "job, instance, route", window="5m"),
                "Seconds per second the loop was held by those blocks.",
            ),
        ],
    )


def _workers() -> Group:
    return Group(
        "gatewatch-wsgi-workers",
        [
            Recording(
                q.WORKERS_UTILISATION,
                q.worker_utilisation("job, instance", window="5m"),
                "Busy worker threads over capacity, averaged over 5 minutes, summed over gunicorn's "
                "workers (one series per pid in multiprocess mode). GatewatchWSGIWorkersSaturated.",
            ),
            Recording(q.SATURATED_RATE, q.sum_rate("saturated", "job, instance", window="5m")),
        ],
    )


def _websockets() -> Group:
    by = "job, route"
    return Group(
        "gatewatch-websockets",
        [
            Recording(
                q.ABNORMAL_CLOSES_RATE,
                q.abnormal_closes(by, window="10m"),
                "Closes that mean something went wrong: 1005 (uvicorn's aborted connection), 1006 "
                "(dropped), 1011 (the app raised), 1014/1015 (gateway, TLS). Not 1000/1001, nor "
                "1012/1013 (restarts). GatewatchWebSocketAbnormalCloses.",
            ),
            Recording(
                q.ABNORMAL_CLOSES_RATIO,
                q.ratio(q.ABNORMAL_CLOSES_RATE, q.sum_rate("websocket_closes", by, window="10m")),
            ),
        ],
    )


def text() -> str:
    return render(HEADER, [_http(), _latency_objective(), _event_loop(), _workers(), _websockets()])
