"""Finished records queued on the request path and added up later, a batch at a time.

A sink that adds numbers up (the Prometheus aggregator, the live view) does one
``deque.append`` per request (atomic: no lock), and adds up the queue under its own lock when
it holds :data:`PENDING_RECORDS` records or when its numbers are read, whichever comes first.
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

# Finished records are added up in batches of at most this many.
PENDING_RECORDS = 64

Item = TypeVar("Item")


def take_all(pending: deque[Item]) -> list[Item]:
    """Take every item from the front of ``pending`` until it is empty; other threads may
    append, or take too, meanwhile (each item is taken once). A list, not a generator: a
    generator's resume per item costs more than the item's popleft."""
    taken: list[Item] = []
    append, popleft = taken.append, pending.popleft
    while True:
        try:
            append(popleft())
        except IndexError:
            return taken
