"""Per-route WebSocket numbers for the single-process Prometheus aggregator."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from gatewatch import catalogue as c
from gatewatch.histogram import Histogram
from gatewatch.record import WebSocketRecord

# At most this many distinct close codes per route; RFC 6455 codes and the app's own
# 4000-4999 are bounded in practice, but a label must be bounded by construction.
MAX_CLOSE_CODES = 64


class SessionStats:
    """Everything recorded for the WebSocket sessions of one route. The caller holds the lock."""

    __slots__ = ("blocking", "bytes", "closes", "duration", "exceptions", "messages", "outcomes")

    def __init__(self) -> None:
        self.duration = Histogram(c.SESSION_BUCKETS)
        self.blocking = Histogram(c.BLOCKING_BUCKETS)
        self.outcomes: dict[str, int] = {}
        # (received_text, received_binary, sent_text, sent_binary)
        self.messages = [0, 0, 0, 0]
        # (received, sent)
        self.bytes = [0, 0]
        self.closes: dict[tuple[str, str], int] = {}
        self.exceptions: dict[str, int] = {}

    def add(self, record: WebSocketRecord) -> None:
        self.outcomes[record.outcome] = self.outcomes.get(record.outcome, 0) + 1
        self.blocking.observe(record.blocking)
        duration = record.session_duration
        if duration is not None:
            self.duration.observe(duration)
            key = (close_code_label(record.close_code), record.initiator)
            if key not in self.closes and len(self.closes) >= MAX_CLOSE_CODES:
                key = ("other", record.initiator)
            self.closes[key] = self.closes.get(key, 0) + 1
        messages = self.messages
        messages[0] += record.received_text
        messages[1] += record.received_binary
        messages[2] += record.sent_text
        messages[3] += record.sent_binary
        self.bytes[0] += record.received_bytes
        self.bytes[1] += record.sent_bytes
        if record.exception is not None:
            label = record.exception_label
            self.exceptions[label] = self.exceptions.get(label, 0) + 1


def close_code_label(code: int | None) -> str:
    if code is None:
        return "none"
    if isinstance(code, int) and 1000 <= code <= 4999:
        return str(code)
    return "other"


def collect_sessions(stats: dict[str, SessionStats], active: dict[str, int]) -> Iterator[Metric]:
    """Metric families for every route's sessions; call it with the aggregator's lock held."""
    active_family = GaugeMetricFamily(c.WS_ACTIVE, c.HELP[c.WS_ACTIVE], labels=c.WS_ROUTE_LABELS)
    for route, count in sorted(active.items()):
        active_family.add_metric([route], count)
    sessions = CounterMetricFamily(c.WS_SESSIONS, c.HELP[c.WS_SESSIONS], labels=c.WS_SESSION_LABELS)
    duration = HistogramMetricFamily(c.WS_DURATION, c.HELP[c.WS_DURATION], labels=c.WS_ROUTE_LABELS)
    blocking = HistogramMetricFamily(c.WS_BLOCKING, c.HELP[c.WS_BLOCKING], labels=c.WS_ROUTE_LABELS)
    messages = CounterMetricFamily(c.WS_MESSAGES, c.HELP[c.WS_MESSAGES], labels=c.WS_MESSAGE_LABELS)
    payload = CounterMetricFamily(c.WS_BYTES, c.HELP[c.WS_BYTES], labels=c.WS_BYTES_LABELS)
    closes = CounterMetricFamily(c.WS_CLOSES, c.HELP[c.WS_CLOSES], labels=c.WS_CLOSE_LABELS)
    exceptions = CounterMetricFamily(
        c.WS_EXCEPTIONS, c.HELP[c.WS_EXCEPTIONS], labels=c.WS_EXCEPTION_LABELS
    )
    for route, s in stats.items():
        for outcome, count in s.outcomes.items():
            sessions.add_metric([route, outcome], count)
        duration.add_metric([route], s.duration.cumulative_buckets(), s.duration.sum)
        blocking.add_metric([route], s.blocking.cumulative_buckets(), s.blocking.sum)
        for (direction, kind), count in zip(
            (("received", "text"), ("received", "binary"), ("sent", "text"), ("sent", "binary")),
            s.messages,
            strict=True,
        ):
            messages.add_metric([route, direction, kind], count)
        payload.add_metric([route, "received"], s.bytes[0])
        payload.add_metric([route, "sent"], s.bytes[1])
        for (code, initiator), count in s.closes.items():
            closes.add_metric([route, code, initiator], count)
        for exception, count in s.exceptions.items():
            exceptions.add_metric([route, exception], count)
    yield from (active_family, sessions, duration, blocking, messages, payload, closes, exceptions)


def describe_sessions() -> Iterator[Metric]:
    yield GaugeMetricFamily(c.WS_ACTIVE, c.HELP[c.WS_ACTIVE], labels=c.WS_ROUTE_LABELS)
    yield CounterMetricFamily(c.WS_SESSIONS, c.HELP[c.WS_SESSIONS], labels=c.WS_SESSION_LABELS)
    yield HistogramMetricFamily(c.WS_DURATION, c.HELP[c.WS_DURATION], labels=c.WS_ROUTE_LABELS)
    yield HistogramMetricFamily(c.WS_BLOCKING, c.HELP[c.WS_BLOCKING], labels=c.WS_ROUTE_LABELS)
    yield CounterMetricFamily(c.WS_MESSAGES, c.HELP[c.WS_MESSAGES], labels=c.WS_MESSAGE_LABELS)
    yield CounterMetricFamily(c.WS_BYTES, c.HELP[c.WS_BYTES], labels=c.WS_BYTES_LABELS)
    yield CounterMetricFamily(c.WS_CLOSES, c.HELP[c.WS_CLOSES], labels=c.WS_CLOSE_LABELS)
    yield CounterMetricFamily(c.WS_EXCEPTIONS, c.HELP[c.WS_EXCEPTIONS], labels=c.WS_EXCEPTION_LABELS)
