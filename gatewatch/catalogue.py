"""The metric catalogue: Prometheus names, help texts, label names and buckets.

Both Prometheus back ends (the in-process aggregator and prometheus-client's
multiprocess mode) read their shape from here, so a scrape looks the same
whichever one a process uses.
"""

from __future__ import annotations

from typing import Final

# Seconds for whole requests: 1 ms .. 60 s.
DURATION_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
# Blocking and CPU time are usually far below a millisecond; a request that holds
# an event loop for 50 ms is already a serious incident.
BLOCKING_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
)
CPU_BUCKETS: Final = BLOCKING_BUCKETS
TTFB_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
# Other requests already in flight in this process when a request arrived.
# Thread hand-offs: a hop costs tens of microseconds; a saturated thread pool, seconds.
OFFLOAD_BUCKETS: Final = (
    0.0, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
)
# Queueing before the app: from nothing to a backlog of seconds.
QUEUE_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
# Event-loop lag: a healthy loop answers within a millisecond; seconds mean it was frozen.
LAG_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONCURRENCY_BUCKETS: Final = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)

DURATION: Final = "gatewatch_http_request_duration_seconds"
BLOCKING: Final = "gatewatch_http_request_blocking_seconds"
CPU: Final = "gatewatch_http_request_cpu_seconds"
TTFB: Final = "gatewatch_http_time_to_first_byte_seconds"
IN_FLIGHT: Final = "gatewatch_http_requests_in_flight"
CONCURRENCY: Final = "gatewatch_http_concurrency_at_arrival"
REQUEST_BYTES: Final = "gatewatch_http_request_body_bytes"  # counter; exposed with _total
RESPONSE_BYTES: Final = "gatewatch_http_response_body_bytes"
EXCEPTIONS: Final = "gatewatch_http_exceptions"
DISCONNECTS: Final = "gatewatch_http_disconnects"
INTERNAL_ERRORS: Final = "gatewatch_internal_errors"
INFO: Final = "gatewatch"  # exposed as gatewatch_info
OFFLOAD: Final = "gatewatch_http_request_offload_seconds"
OFFLOAD_QUEUE: Final = "gatewatch_http_request_offload_queue_seconds"
THREAD_HOPS: Final = "gatewatch_http_request_thread_hops"  # counter; exposed with _total
ROUTE_VIEW: Final = "gatewatch_route_view"  # info; exposed as gatewatch_route_view_info
QUEUE: Final = "gatewatch_http_request_queue_seconds"
WORKERS_BUSY: Final = "gatewatch_wsgi_workers_busy"
WORKERS_CAPACITY: Final = "gatewatch_wsgi_workers_capacity"
SATURATED: Final = "gatewatch_wsgi_saturated_requests"  # counter; exposed with _total
LOOP_LAG: Final = "gatewatch_event_loop_lag_seconds"
LOOP_BLOCKS: Final = "gatewatch_event_loop_blocks"  # counter; exposed with _total
LOOP_BLOCKED: Final = "gatewatch_event_loop_blocked_seconds"  # counter; exposed with _total
AFTER_RESPONSE: Final = "gatewatch_http_request_after_response_seconds"

HELP: Final = {
    DURATION: "Time from request arrival until the response really ended (last body chunk "
    "handed to the server: sent under ASGI, iterable exhausted under WSGI).",
    BLOCKING: "Time the request held its worker (WSGI) or the event loop (ASGI, the sum of "
    "the request coroutine's synchronous steps).",
    CPU: "On-CPU time of the request's own thread while it ran.",
    TTFB: "Time from request arrival until the first response body chunk was handed to the server.",
    IN_FLIGHT: "HTTP requests being served right now.",
    CONCURRENCY: "Other HTTP requests already in flight in this process when a request arrived.",
    REQUEST_BYTES: "Request body bytes the application really read.",
    RESPONSE_BYTES: "Response body bytes really handed to the server (not Content-Length).",
    EXCEPTIONS: "Exceptions raised by the application, by type.",
    DISCONNECTS: "Requests whose client went away before the response ended.",
    INTERNAL_ERRORS: "Errors inside gatewatch itself; the application never sees them.",
    INFO: "gatewatch version, interface and server.",
    OFFLOAD: "Time the request waited on work handed to threads through asgiref's sync_to_async "
    "(Django's sync views, sync middleware and sync signal receivers under ASGI); "
    "only for requests where hand-offs are tracked.",
    OFFLOAD_QUEUE: "Time work handed to threads by the request waited for a free thread.",
    THREAD_HOPS: "Crossings between the event loop and threads through asgiref (sync_to_async and "
    "async_to_sync), nested ones included.",
    ROUTE_VIEW: "The view serving each route (dotted name) and whether it is sync or async.",
    QUEUE: "Time a request waited before the application saw it, from the timestamp a proxy "
    "put in the queue-time header (X-Request-Start); only requests carrying it.",
    WORKERS_BUSY: "WSGI requests being served by this process now: its busy worker threads.",
    WORKERS_CAPACITY: "WSGI requests this process can serve at once (its worker threads), when known.",
    SATURATED: "WSGI requests that took this process's last free worker thread: arrivals after "
    "them wait for a thread.",
    LOOP_LAG: "How late the event loop ran a callback scheduled at a fixed interval.",
    LOOP_BLOCKS: "Synchronous steps that held the event loop longer than the block threshold, by "
    "route (<background> when outside any request).",
    LOOP_BLOCKED: "Seconds the event loop was held by those blocking steps, by route.",
    AFTER_RESPONSE: "Time the application went on after its response ended (the app returning "
    "under ASGI: background tasks, Django's close hop; close() under WSGI); never part of "
    "the duration or the in-flight counts.",
}

ROUTE_LABELS: Final = ("interface", "method", "route")
DURATION_LABELS: Final = ("interface", "method", "route", "status")
IN_FLIGHT_LABELS: Final = ("interface", "method")
CONCURRENCY_LABELS: Final = ("interface",)
EXCEPTION_LABELS: Final = ("interface", "route", "exception")
DISCONNECT_LABELS: Final = ("interface", "route")
INFO_LABELS: Final = ("version", "interface", "server")
ROUTE_VIEW_LABELS: Final = ("interface", "route", "view", "view_kind")
LOOP_BLOCK_LABELS: Final = ("route",)
QUEUE_LABELS: Final = ("interface",)

# Status label of a request whose client left before the response ended (nginx's
# convention), so it never looks like the application's own 5xx.
CLIENT_CLOSED_STATUS: Final = 499

# -- WebSocket sessions (never in the HTTP metrics) ------------------------------------

SESSION_BUCKETS: Final = (0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0)

WS_ACTIVE: Final = "gatewatch_websocket_sessions_active"
WS_SESSIONS: Final = "gatewatch_websocket_sessions"  # counter; exposed with _total
WS_DURATION: Final = "gatewatch_websocket_session_duration_seconds"
WS_BLOCKING: Final = "gatewatch_websocket_session_blocking_seconds"
WS_MESSAGES: Final = "gatewatch_websocket_messages"
WS_BYTES: Final = "gatewatch_websocket_message_bytes"
WS_CLOSES: Final = "gatewatch_websocket_closes"
WS_EXCEPTIONS: Final = "gatewatch_websocket_exceptions"

HELP.update({
    WS_ACTIVE: "WebSocket sessions accepted and not yet closed.",
    WS_SESSIONS: "WebSocket sessions by outcome: accepted, rejected (closed or denied before "
    "accept) or failed (the app raised before accept).",
    WS_DURATION: "Time from accept to close of WebSocket sessions.",
    WS_BLOCKING: "Time a WebSocket session's coroutine held the event loop, over the whole session.",
    WS_MESSAGES: "WebSocket messages by direction (received/sent) and kind (text/binary).",
    WS_BYTES: "WebSocket message payload bytes by direction (text counted as UTF-8).",
    WS_CLOSES: "Closed WebSocket sessions by close code and initiator (client/server).",
    WS_EXCEPTIONS: "Exceptions raised by the application during WebSocket sessions, by type.",
})

WS_ROUTE_LABELS: Final = ("route",)
WS_SESSION_LABELS: Final = ("route", "outcome")
WS_MESSAGE_LABELS: Final = ("route", "direction", "kind")
WS_BYTES_LABELS: Final = ("route", "direction")
WS_CLOSE_LABELS: Final = ("route", "code", "initiator")
WS_EXCEPTION_LABELS: Final = ("route", "exception")
