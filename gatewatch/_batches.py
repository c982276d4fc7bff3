"""Finished records queued on the request path and added up later, a batch at a time.

A sink that adds numbers up (the Prometheus aggregator, the live view) does one
``deque.append`` per request (atomic: no lock), and adds up the queue under its own lock when
it holds :data:`PENDING_RECORDS` records or when its numbers are read, whichever comes first.
"""

from __future__ import annotations

from collections import deque
from itertools import repeat
from operator import call
from typing import TypeVar

# Finished records are added up in batches of at most this many.
PENDING_RECORDS = 64

Item = TypeVar("Item")


def take_all(pending: deque[Item]) -> list[Item]:
    """Take every item at the front of ``pending`` now; other threads may append meanwhile
    (those are left for the next take). One taker at a time: the caller holds the lock of
    the sink that owns ``pending``, so no item can go between ``len()`` and its ``popleft()``.
    A list built in C, one ``popleft`` call per item: this runs for every record."""
    return list(map(call, repeat(pending.popleft, len(pending))))
