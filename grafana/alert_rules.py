"""The alerts (``grafana/rules/gatewatch-alerts.yml``) on the series the recording rules record.

Thresholds are starting points; each alert has a runbook section in ``docs/runbooks.md`` and
a firing and a quiet unit test in ``grafana/rules/tests`` (``promtool test rules``).
"""

from __future__ import annotations

from dataclasses import replace

from gatewatch import queries as q

from ._rule_files import Alert, Group, render

FILE = "gatewatch-alerts.yml"

HEADER = (
    "Alerts on gatewatch's metrics, written by python grafana/generate.py from "
    "grafana/alert_rules.py and gatewatch/queries.py (edit those, not this file). They read the "
    "recording rules in gatewatch-recording.yml: load both files (rule_files: in prometheus.yml). "
    "Each alert's runbook_url names its section of docs/runbooks.md in the gatewatch repository; "
    "point it at your own copy if you keep one. Thresholds are starting points: tune them, and "
    "the `for:` durations, to your traffic."
)

_BOUND = f"{float(q.SLOW_BOUND) * 1000:g} ms"
_BUDGET = f"{q.SLO_BUDGET * 100:g} %"


def _burn(
    speed: str,
    factor: float,
    windows: tuple[str, str],
    for_: str,
    severity: str,
    spans: tuple[str, str],
    gone: str,
) -> Alert:
    """A latency-budget alert: the slow ratio above ``factor`` times the budget over a long and a
    short window (``spans`` says them in words)."""
    long, short = windows
    over = f"({factor} * {q.SLO_BUDGET})"
    return Alert(
        f"GatewatchLatencyBudget{speed}Burn",
        q.all_of(q.exceeds(q.SLOW_RATIO[long], over), q.exceeds(q.SLOW_RATIO[short], over)),
        for_,
        severity,
        f"{{{{ $labels.job }}}} {{{{ $labels.interface }}}} burns its latency budget {factor} times too fast",
        "{{ $value | humanizePercentage }} of the {{ $labels.interface }} requests of {{ $labels.job }} "
        f"took longer than {_BOUND} over {spans[0]} (and still do over {spans[1]}), against an objective "
        f"of {_BUDGET}: at this rate the 30-day budget is gone in {gone}.",
        "gatewatchlatencybudgetburn",
    )


def _alerts() -> list[Alert]:
    return [
        Alert(
            "GatewatchEventLoopLagHigh",
            q.exceeds(q.LAG_P99, 0.1),
            "5m",
            "warning",
            "Event loop of {{ $labels.instance }} runs {{ $value | humanizeDuration }} late (p99)",
            "The p99 lag of the asyncio event loop of {{ $labels.job }}/{{ $labels.instance }} has been "
            "above 100 ms for 5 minutes: something holds the loop with synchronous work, and every "
            'request and WebSocket session on it waits. The "Event loop and workers" board shows which '
            "route blocks it.",
            "gatewatcheventlooplaghigh",
        ),
        Alert(
            "GatewatchEventLoopBlocked",
            q.exceeds(q.scaled(q.LOOP_BLOCKS_RATE, 60), 1),
            "5m",
            "warning",
            "{{ $labels.route }} blocks the event loop of {{ $labels.instance }} "
            '{{ $value | printf "%.1f" }} times a minute',
            "Requests to {{ $labels.route }} on {{ $labels.job }}/{{ $labels.instance }} held the event "
            "loop longer than the block threshold more than once a minute for 5 minutes. The server's "
            "log (logger gatewatch, WARNING) and the live view carry the stack of each block.",
            "gatewatcheventloopblocked",
            "More than one block (a synchronous step over block_threshold, 50 ms by default) a minute "
            "on one route.",
        ),
        Alert(
            "GatewatchWSGIWorkersSaturated",
            q.exceeds(q.WORKERS_UTILISATION, 0.9, ">="),
            "10m",
            "warning",
            "WSGI workers of {{ $labels.instance }} are {{ $value | humanizePercentage }} busy",
            "On average {{ $value | humanizePercentage }} of the WSGI worker threads of "
            "{{ $labels.job }}/{{ $labels.instance }} have been busy for 10 minutes: new requests wait "
            "in the server's queue before any worker sees them, a wait no request timer counts.",
            "gatewatchwsgiworkerssaturated",
        ),
        Alert(
            "GatewatchHigh5xxRatio",
            q.exceeds(q.SERVER_ERROR_RATIO, 0.05),
            "5m",
            "critical",
            "{{ $value | humanizePercentage }} of {{ $labels.interface }} requests of {{ $labels.job }} "
            "fail with 5xx",
            "More than 5 % of the {{ $labels.interface }} requests of {{ $labels.job }} have been answered "
            "with a 5xx status for 5 minutes. The overview board's busiest and slowest routes and the "
            "route drill-down's exceptions panel say which route and which exception.",
            "gatewatchhigh5xxratio",
        ),
        Alert(
            "GatewatchWebSocketAbnormalCloses",
            q.all_of(
                q.exceeds(q.ABNORMAL_CLOSES_RATIO, 0.1),
                q.exceeds(q.scaled(q.ABNORMAL_CLOSES_RATE, 60), 1, ">="),
            ),
            "10m",
            "warning",
            "{{ $value | humanizePercentage }} of WebSocket sessions on {{ $labels.route }} close abnormally",
            "More than 10 % of the WebSocket sessions of {{ $labels.job }} on {{ $labels.route }} have "
            "closed with 1005, 1006, 1011, 1014 or 1015 for 10 minutes: dropped connections, the app "
            "raising (1011), or a proxy in between giving up.",
            "gatewatchwebsocketabnormalcloses",
            "Over 10 % of closes abnormal, and at least one a minute (so a single dropped connection on "
            "a quiet route does not page).",
        ),
        replace(
            _burn(
                "Fast", 14.4, ("1h", "5m"), "2m", "critical", ("the last hour", "5 minutes"), "about 2 days"
            ),
            comment=f"The latency objective: 99 % of requests within {_BOUND} over 30 days (a {_BUDGET} "
            'budget). Multiwindow, multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs"): a '
            "long window says the budget is really burning, a short one that it still is.",
        ),
        _burn("Slow", 6, ("6h", "30m"), "15m", "warning", ("the last 6 hours", "30 minutes"), "5 days"),
    ]


def text() -> str:
    return render(HEADER, [Group("gatewatch-alerts", _alerts())])
