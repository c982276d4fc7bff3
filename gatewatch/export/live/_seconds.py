"""Per-second totals of the live view: one slot per interface and wall-clock second, encoded in
chunks of :data:`SECONDS_PER_CHUNK` seconds, each chunk again only when one of its seconds
gained a request (:class:`gatewatch.export.live._fragments.ChunkedParts`)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from gatewatch.export.live.schema import SecondTotals

SECONDS_PER_CHUNK = 20


class Second:
    """Totals of one interface's requests that finished within one wall-clock second."""

    __slots__ = (
        "blocking_max",
        "blocking_sum",
        "concurrency_max",
        "disconnects",
        "duration_max",
        "duration_sum",
        "exceptions",
        "requests",
        "second",
        "server_errors",
    )

    def __init__(self, second: int) -> None:
        self.second = second
        self.requests = 0
        self.server_errors = 0
        self.disconnects = 0
        self.exceptions = 0
        self.duration_sum = 0.0
        self.duration_max = 0.0
        self.blocking_sum = 0.0
        self.blocking_max = 0.0
        self.concurrency_max = 0

    def describe(self, interface: str) -> SecondTotals:
        return {
            "second": self.second,
            "interface": interface,
            "requests": self.requests,
            "server_errors": self.server_errors,
            "disconnects": self.disconnects,
            "exceptions": self.exceptions,
            "duration_sum": self.duration_sum,
            "duration_max": self.duration_max,
            "blocking_sum": self.blocking_sum,
            "blocking_max": self.blocking_max,
            "concurrency_max": self.concurrency_max,
        }


def second_chunks(
    seconds: dict[str, list[Second | None]], oldest: int
) -> list[tuple[int, object, Callable[[], list[object]]]]:
    """The per-second totals after ``oldest`` in chunks of :data:`SECONDS_PER_CHUNK`
    seconds, in order, each versioned by its seconds' request counts (a second's totals
    change only with a request added)."""
    chunks: dict[int, list[tuple[int, str, Second]]] = {}
    for interface, ring in seconds.items():
        for slot in ring:
            if slot is not None and slot.second > oldest:
                chunk = chunks.setdefault(slot.second // SECONDS_PER_CHUNK, [])
                chunk.append((slot.second, interface, slot))
    result: list[tuple[int, object, Callable[[], list[object]]]] = []
    for key in sorted(chunks):
        entries = sorted(chunks[key], key=lambda entry: (entry[0], entry[1]))
        version = tuple((second, interface, slot.requests) for second, interface, slot in entries)
        result.append((key, version, functools.partial(_describe_seconds, entries)))
    return result


def _describe_seconds(entries: list[tuple[int, str, Second]]) -> list[object]:
    return [slot.describe(interface) for _, interface, slot in entries]
