"""The WebSockets board: sessions active and by outcome, messages and bytes, closes by code and
initiator, duration and time on the loop."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from gatewatch import queries as q

from ._panels import HTTP, INSTANCE, LOOP_ROUTE, Panel, Target, board, graph, quantiles

FILE = "gatewatch-websockets.json"
# WebSocket metrics have no interface label: sessions are ASGI's alone.
WS = LOOP_ROUTE


def build() -> Dashboard:
    panels: list[Panel] = [
        graph(
            "Active sessions, by route",
            "WebSocket sessions accepted and not yet closed.",
            [Target(q.total("websocket_active", "route", WS), "{{route}}")],
            stack=True,
        ),
        graph(
            "HTTP requests in flight vs WebSocket sessions",
            "What holds the server now: HTTP requests per interface next to open WebSocket sessions.",
            [
                Target(q.total("in_flight", "interface", HTTP), "HTTP {{interface}}"),
                Target(q.total("websocket_active", "", WS), "WebSocket sessions"),
            ],
        ),
        graph(
            "Sessions by outcome per second",
            "accepted; rejected (closed or denied before accept); failed (the app raised before accept).",
            [Target(q.sum_rate("websocket_sessions", "outcome", WS), "{{outcome}}")],
            width=8,
        ),
        graph(
            "Messages per second",
            "By direction (received/sent) and kind (text/binary).",
            [Target(q.sum_rate("websocket_messages", "direction, kind", WS), "{{direction}} {{kind}}")],
            width=8,
        ),
        graph(
            "Message bytes per second",
            "Payload bytes by direction (text counted as UTF-8).",
            [Target(q.sum_rate("websocket_bytes", "direction", WS), "{{direction}}")],
            unit="Bps",
            width=8,
        ),
        graph(
            "Closes by code and initiator",
            "Closed sessions per second: client when the client closed first, server when the app did. "
            "1000 is normal; 1006 a dropped connection; 1011 the app raised; uvicorn reports an "
            "aborted connection as 1005.",
            [Target(q.sum_rate("websocket_closes", "code, initiator", WS), "{{code}} {{initiator}}")],
        ),
        graph(
            "Abnormal close ratio, by route",
            "Closes with code 1005, 1006, 1011, 1014 or 1015 over all closes (the "
            "GatewatchWebSocketAbnormalCloses alert watches this).",
            [Target(q.abnormal_close_ratio("route", WS), "{{route}}")],
            unit="percentunit",
            thresholds=[(0.1, "red")],
        ),
        graph(
            "Session duration p50 / p95",
            "Time from accept to close.",
            quantiles("websocket_duration", WS, "route", "{{route}}", (0.5, 0.95)),
            unit="s",
            width=8,
        ),
        graph(
            "Session time on the loop p99",
            "Time a session's coroutine held the event loop over the whole session.",
            quantiles("websocket_blocking", WS, "route", "{{route}}", (0.99,)),
            unit="s",
            width=8,
        ),
        graph(
            "Exceptions in sessions per second",
            "Exceptions the application raised during WebSocket sessions, by route and type.",
            [Target(q.sum_rate("websocket_exceptions", "route, exception", WS), "{{route}} {{exception}}")],
            width=8,
        ),
    ]
    return board(
        "gatewatch-websockets",
        "gatewatch / WebSockets",
        "WebSocket sessions: active, outcomes, messages and bytes, closes by code and initiator, duration.",
        route_query=q.label_values("websocket_sessions", "route", INSTANCE),
        panels=panels,
    )
