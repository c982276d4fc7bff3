"""The catalogue's WebSocket session metrics (never in the HTTP ones); see :mod:`gatewatch.catalogue`."""

from __future__ import annotations

from typing import Final

from gatewatch import _buckets as b
from gatewatch._metric_spec import MetricSpec

WEBSOCKET: Final[tuple[MetricSpec, ...]] = (
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
        b.SESSION,
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
        b.BLOCKING,
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
