"""Per-route WebSocket numbers for the single-process Prometheus aggregator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatewatch._histogram import Histogram
from gatewatch.record import WebSocketRecord

# At most this many distinct close codes per route; RFC 6455 codes and the app's own
# 4000-4999 are bounded in practice, but a label must be bounded by construction.
MAX_CLOSE_CODES = 64


class SessionStats:
    """Everything recorded for the WebSocket sessions of one route. The caller holds the lock.

    A histogram whose bounds are None is a family the process does not export."""

    __slots__ = ("blocking", "bytes", "closes", "duration", "exceptions", "messages", "outcomes")

    def __init__(self, duration: tuple[float, ...] | None, blocking: tuple[float, ...] | None) -> None:
        self.duration = None if duration is None else Histogram(duration)
        self.blocking = None if blocking is None else Histogram(blocking)
        self.outcomes: dict[str, int] = {}
        # (received_text, received_binary, sent_text, sent_binary)
        self.messages = [0, 0, 0, 0]
        # (received, sent)
        self.bytes = [0, 0]
        self.closes: dict[tuple[str, str], int] = {}
        self.exceptions: dict[str, int] = {}

    def add(self, record: WebSocketRecord) -> None:
        self.outcomes[record.outcome] = self.outcomes.get(record.outcome, 0) + 1
        if self.blocking is not None:
            self.blocking.observe(record.blocking)
        duration = record.session_duration
        if duration is not None:
            if self.duration is not None:
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


def collect_sessions(f: Mapping[str, Any], stats: dict[str, SessionStats], active: dict[str, int]) -> None:
    """Add every route's sessions to the aggregator's families ``f`` (by catalogue key; a
    histogram family not exported is absent); call it with the aggregator's lock held."""
    for route, count in sorted(active.items()):
        f["websocket_active"].add_metric([route], count)
    sessions, messages, payload = f["websocket_sessions"], f["websocket_messages"], f["websocket_bytes"]
    closes, exceptions = f["websocket_closes"], f["websocket_exceptions"]
    for route, s in stats.items():
        for outcome, count in s.outcomes.items():
            sessions.add_metric([route, outcome], count)
        for key, hist in (("websocket_duration", s.duration), ("websocket_blocking", s.blocking)):
            if hist is not None:
                f[key].add_metric([route], hist.cumulative_buckets(), hist.sum)
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
