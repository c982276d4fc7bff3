"""Finished records queued on the request path and added up later, a batch at a time.

A sink that adds numbers up (the Prometheus aggregator, the live view) does one
``deque.append`` per request (atomic: no lock), and adds up the queue under its own lock when
it holds :data:`PENDING_RECORDS` records or when its numbers are read, whichever comes first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TypeVar

# Finished records are added up in batches of at most this many.
PENDING_RECORDS = 64

Item = TypeVar("Item")


def drained(pending: deque[Item]) -> Iterator[Item]:
    """Take items from the front of ``pending`` until it is empty; other threads may append, or
    drain it too, meanwhile (each item is taken once)."""
    while True:
        try:
            yield pending.popleft()
        except IndexError:
            return
