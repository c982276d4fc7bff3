"""Live WebSocket state, bounded: the sessions open now and the last ones that closed."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from time import perf_counter, time

from gatewatch.export.live.schema import WebSocketSession
from gatewatch.record import WebSocketRecord

MAX_OPEN_TRACKED = 10_000
RECENT_CLOSED = 100


class SessionTable:
    def __init__(self, *, max_open: int = MAX_OPEN_TRACKED, recent: int = RECENT_CLOSED) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, WebSocketRecord] = {}
        self._recent: deque[WebSocketSession] = deque(maxlen=recent)
        self._max_open = max_open
        self._ids = itertools.count(1)
        # Sessions open beyond max_open: still counted in metrics, just not listed live.
        self.untracked = 0
        self.active_by_route: dict[str, int] = {}

    def next_id(self) -> int:
        return next(self._ids)

    def opened(self, record: WebSocketRecord) -> None:
        with self._lock:
            route = record.route_label
            self.active_by_route[route] = self.active_by_route.get(route, 0) + 1
            if len(self._open) < self._max_open:
                self._open[record.session_id] = record
            else:
                self.untracked += 1

    def closed(self, record: WebSocketRecord, *, was_open: bool) -> None:
        with self._lock:
            if was_open:
                self.active_by_route[record.route_label] -= 1
                if self._open.pop(record.session_id, None) is None:
                    self.untracked -= 1
            self._recent.append(describe(record))

    def active(self) -> dict[str, int]:
        with self._lock:
            return dict(self.active_by_route)

    def open_sessions(self) -> list[WebSocketSession]:
        with self._lock:
            records = list(self._open.values())
        return [describe(record) for record in records]

    def recent_closed(self) -> list[WebSocketSession]:
        with self._lock:
            return list(self._recent)


def describe(record: WebSocketRecord, now: float | None = None) -> WebSocketSession:
    """A JSON-ready view of one session (no headers, no query string, no payloads), as of
    ``now`` (perf_counter): a closed session is described once, when it closes."""
    now = perf_counter() if now is None else now
    closed = record.closed_at
    return {
        "id": record.session_id,
        "route": record.route_label,
        "outcome": record.outcome,
        "age": now - record.start,
        "duration": record.session_duration,
        "received": {
            "text": record.received_text,
            "binary": record.received_binary,
            "bytes": record.received_bytes,
        },
        "sent": {"text": record.sent_text, "binary": record.sent_binary, "bytes": record.sent_bytes},
        "last_message_age": None if record.last_message_at is None else now - record.last_message_at,
        "close_code": record.close_code,
        "initiator": record.initiator or None,
        "blocking": record.blocking,
        "longest_step": record.longest_step,
        "closed_at": None if closed is None else time() - (now - closed),
    }
