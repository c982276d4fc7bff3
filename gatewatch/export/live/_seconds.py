"""Per-second totals of the live view: one slot per interface and wall-clock second, encoded in
chunks of :data:`SECONDS_PER_CHUNK` seconds, each chunk again only when one of its seconds
gained a request (:class:`gatewatch.export.live._fragments.ChunkedParts`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from gatewatch.export.live.schema import SecondTotals
from gatewatch.record import RequestRecord

SECONDS_PER_CHUNK = 20
# Seconds kept per interface (the live view's window).
WINDOW_SECONDS = 300


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

    def store(
        self,
        requests: int,
        server_errors: int,
        disconnects: int,
        exceptions: int,
        duration_sum: float,
        duration_max: float,
        blocking_sum: float,
        blocking_max: float,
        concurrency_max: int,
    ) -> None:
        """Its totals as added up since (gatewatch.export.live.state adds a batch in locals)."""
        self.requests = requests
        self.server_errors = server_errors
        self.disconnects = disconnects
        self.exceptions = exceptions
        self.duration_sum = duration_sum
        self.duration_max = duration_max
        self.blocking_sum = blocking_sum
        self.blocking_max = blocking_max
        self.concurrency_max = concurrency_max

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


def add_seconds(
    seconds: dict[str, list[Second | None]],
    records: Sequence[RequestRecord],
    wall_offset: float,
    oldest: int,
    report: Callable[[Exception], None],
) -> None:
    """Add finished ``records`` into the per-interface rings of ``seconds``, each by the wall-clock
    second its response ended (``perf_counter() + wall_offset``); those at or before ``oldest``
    are out of the window. Under the live state's lock.

    The records of a batch mostly end within one second of one interface: that second's
    totals are added up in locals and stored when the second changes, in the same order, so
    the sums are the very ones one addition at a time gives.
    """
    current: Second | None = None
    interface: str | None = None
    second = -1
    requests = server_errors = disconnects = exceptions = concurrency_max = 0
    duration_sum = duration_max = blocking_sum = blocking_max = 0.0
    for record in records:
        try:
            start = record.start
            end = record.end
            if end is None:
                end = start
            at = int(end + wall_offset)
            if at != second or record.interface is not interface:
                if current is not None:
                    current.store(
                        requests,
                        server_errors,
                        disconnects,
                        exceptions,
                        duration_sum,
                        duration_max,
                        blocking_sum,
                        blocking_max,
                        concurrency_max,
                    )
                second, interface = at, record.interface
                current = None if at <= oldest else _slot(seconds, interface, at)
                if current is not None:
                    requests, server_errors = current.requests, current.server_errors
                    disconnects, exceptions = current.disconnects, current.exceptions
                    duration_sum, duration_max = current.duration_sum, current.duration_max
                    blocking_sum, blocking_max = current.blocking_sum, current.blocking_max
                    concurrency_max = current.concurrency_max
            if current is None:
                continue
            requests += 1
            if record.status_label[:1] == "5":
                server_errors += 1
            if record.disconnected:
                disconnects += 1
            if record.exception is not None:
                exceptions += 1
            duration = end - start
            duration_sum += duration
            if duration > duration_max:
                duration_max = duration
            blocking = record.blocking
            blocking_sum += blocking
            if blocking > blocking_max:
                blocking_max = blocking
            if record.concurrency > concurrency_max:
                concurrency_max = record.concurrency
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop a snapshot
            report(exc)
    if current is not None:
        current.store(
            requests,
            server_errors,
            disconnects,
            exceptions,
            duration_sum,
            duration_max,
            blocking_sum,
            blocking_max,
            concurrency_max,
        )


def _slot(seconds: dict[str, list[Second | None]], interface: str, second: int) -> Second | None:
    """The totals of ``second`` for ``interface``; None when its slot holds a later second now."""
    ring = seconds.get(interface)
    if ring is None:
        ring = seconds[interface] = [None] * WINDOW_SECONDS
    slot = ring[second % WINDOW_SECONDS]
    if slot is None or slot.second != second:
        if slot is not None and slot.second > second:
            return None
        slot = ring[second % WINDOW_SECONDS] = Second(second)
    return slot
