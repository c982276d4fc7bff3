"""The requests a process has in flight, kept without a lock.

Every request arrives and departs (:meth:`gatewatch.monitor.Monitor.arrive` and
``leave_in_flight`` do it inline, a call less on every request's path), so that is kept to a
few operations that are each atomic under the GIL: a store into, or a removal from, a
:class:`Table`'s dict keyed by the record itself (hashed by identity, in C), ``len()`` of it,
and a step of :attr:`InFlight.numbers`. Readers (a scrape, the live view) copy a table with one
``list()`` call, atomic too, and count from the copy. Two requests arriving at the same
instant on two threads may both see the other as not yet arrived; nothing is ever lost.
"""

from __future__ import annotations

import itertools
from collections import Counter

from gatewatch.record import RequestRecord


class Table:
    """One interface's records in flight, oldest first, and the methods it has seen."""

    __slots__ = ("methods", "records")

    def __init__(self) -> None:
        self.records: dict[RequestRecord, None] = {}
        # A gauge that has been 1 must read 0, not vanish: every method seen stays listed.
        self.methods: set[str] = set()


class InFlight:
    def __init__(self) -> None:
        # interface -> its table; read without a lock on the request path.
        self.tables: dict[str, Table] = {}
        # Numbers the requests in arrival order.
        self.numbers = itertools.count(1)

    def table(self, interface: str) -> Table:
        """The table of ``interface``, made at its first request."""
        table = self.tables.get(interface)
        if table is None:
            table = self.tables.setdefault(interface, Table())
        return table

    def counts(self) -> dict[tuple[str, str], int]:
        """Requests in flight by (interface, method), with 0 for every pair seen before."""
        counts: dict[tuple[str, str], int] = {}
        for interface, table in list(self.tables.items()):
            for method in list(table.methods):
                counts[(interface, method)] = 0
            for method, count in Counter(record.method for record in list(table.records)).items():
                counts[(interface, method)] = count
        return counts

    def count_of(self, interface: str) -> int | None:
        """Requests of ``interface`` in flight now; None when it has served none yet."""
        table = self.tables.get(interface)
        return None if table is None else len(table.records)

    def oldest(self, limit: int) -> tuple[list[RequestRecord], int]:
        """The oldest ``limit`` records in flight (every interface), and how many more there are."""
        records = [record for table in list(self.tables.values()) for record in list(table.records)]
        records.sort(key=lambda record: record.number)
        return records[:limit], max(len(records) - limit, 0)
