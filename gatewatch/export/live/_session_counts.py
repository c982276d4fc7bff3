"""WebSocket sessions that ended since the live state began, per route and outcome, with their
messages and bytes each way (:class:`~gatewatch.export.live.schema.SessionCounts`): the numbers of
``gatewatch_websocket_sessions_total``, ``..._messages_total`` and ``..._bytes_total``."""

from __future__ import annotations

import functools

from gatewatch import _measure as m
from gatewatch.export.live._fragments import Chunk, ChunkedParts
from gatewatch.export.live.schema import SessionCounts
from gatewatch.record import WebSocketRecord

# Route and outcome pairs per encoded chunk.
PAIRS_PER_CHUNK = 32

_WS_SESSIONS = m.SLOT["websocket_sessions"]
_WS_MESSAGES = m.SLOT["websocket_messages"]
_WS_BYTES = m.SLOT["websocket_bytes"]


class _Counts:
    __slots__ = ("received", "received_bytes", "sent", "sent_bytes", "sessions")

    def __init__(self) -> None:
        self.sessions = 0
        self.received = 0
        self.sent = 0
        self.received_bytes = 0
        self.sent_bytes = 0


class SessionTotals:
    """The sessions of one live state; every method runs under its lock but :meth:`array`."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], tuple[int, _Counts]] = {}
        self._chunks: list[list[tuple[tuple[str, str], _Counts]]] = []
        self._versions: list[int] = []
        self._parts = ChunkedParts()

    def add(self, record: WebSocketRecord) -> None:
        """A session that ended, as the Prometheus export measures it."""
        measured = m.measure_session(record)
        [(route, outcome)] = [labels for slot, labels, _ in measured if slot == _WS_SESSIONS]
        key = (route, outcome)
        found = self._pairs.get(key)
        if found is None:
            chunks = self._chunks
            if not chunks or len(chunks[-1]) >= PAIRS_PER_CHUNK:
                chunks.append([])
                self._versions.append(0)
            found = self._pairs[key] = (len(chunks) - 1, _Counts())
            chunks[-1].append((key, found[1]))
        chunk, counts = found
        for slot, labels, value in measured:
            if value is None:
                continue
            received = labels[1] == "received" if len(labels) > 1 else False
            if slot == _WS_SESSIONS:
                counts.sessions += int(value)
            elif slot == _WS_MESSAGES:
                if received:
                    counts.received += int(value)
                else:
                    counts.sent += int(value)
            elif slot == _WS_BYTES:
                if received:
                    counts.received_bytes += int(value)
                else:
                    counts.sent_bytes += int(value)
        self._versions[chunk] += 1

    def take(self) -> list[Chunk]:
        parts = self._parts
        return [
            parts.taken(index, version, functools.partial(_describe, chunk))
            for index, (version, chunk) in enumerate(zip(self._versions, self._chunks, strict=True))
        ]

    def array(self, taken: list[Chunk]) -> bytes:
        return self._parts.array(taken)


def _describe(chunk: list[tuple[tuple[str, str], _Counts]]) -> list[object]:
    described: list[object] = []
    for (route, outcome), found in chunk:
        counts: SessionCounts = {
            "route": route,
            "outcome": outcome,
            "sessions": found.sessions,
            "received": found.received,
            "sent": found.sent,
            "received_bytes": found.received_bytes,
            "sent_bytes": found.sent_bytes,
        }
        described.append(counts)
    return described
