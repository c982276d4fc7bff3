"""The catalogue's default histogram buckets, in seconds unless said otherwise."""

from __future__ import annotations

from typing import Final

# Whole requests: 1 ms .. 60 s.
REQUEST: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Blocking and CPU time are usually far below a millisecond; a request that holds
# an event loop for 50 ms is already a serious incident.
BLOCKING: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
# The first byte: from half a millisecond, as blocking, to the 30 s a proxy may wait.
FIRST_BYTE: Final = (*BLOCKING[3:-1], 5.0, 10.0, 30.0)
# Thread hand-offs: a hop costs tens of microseconds; a saturated thread pool, seconds.
OFFLOAD: Final = (0.0, *BLOCKING)
# Queueing before the app: from nothing to a backlog of seconds.
QUEUE: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Event-loop lag: a healthy loop answers within a millisecond; seconds mean it was frozen.
LAG: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Other requests already in flight in this process (a count, not seconds).
CONCURRENCY: Final = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)
# WebSocket sessions last from a moment to hours.
SESSION: Final = (0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0)

# OpenTelemetry's own advice, for its http.server.* histograms:
# the HTTP semantic conventions' bounds for http.server.request.duration (seconds),
OTEL_DURATION: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# and body sizes in bytes, 0 up to 100 MB.
OTEL_SIZE: Final = (0.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
