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

HELP: Final = {
    DURATION: "Time from request arrival until the response really ended "
    "(last body chunk sent under ASGI, iterable closed under WSGI).",
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
}

ROUTE_LABELS: Final = ("interface", "method", "route")
DURATION_LABELS: Final = ("interface", "method", "route", "status")
IN_FLIGHT_LABELS: Final = ("interface", "method")
CONCURRENCY_LABELS: Final = ("interface",)
EXCEPTION_LABELS: Final = ("interface", "route", "exception")
DISCONNECT_LABELS: Final = ("interface", "route")
INFO_LABELS: Final = ("version", "interface", "server")

# Status label of a request whose client left before the response ended (nginx's
# convention), so it never looks like the application's own 5xx.
CLIENT_CLOSED_STATUS: Final = 499
