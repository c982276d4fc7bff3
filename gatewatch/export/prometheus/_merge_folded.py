"""The folded generation's totals, merged once and kept as the base a scrape starts from.

The folded files (:mod:`._fold`) hold about as many values as a running worker's, and they only
change when a fold writes a new generation (new files under new names, never rewritten). A
merger reads them once, right after its tables are reset, keeps a copy of every series' totals
as they are then (start values plus the folded files' values), and each later scrape whose
folded files are the same ones (by name, inode, size and times) starts its tables from that copy
instead of reading and merging those files value by value: one list copy per folded series.

A folded file with values this merge leaves to prometheus-client (a summary, a user's generic
metric) is not kept: it is read at every scrape, as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client.metrics_core import Metric

if TYPE_CHECKING:
    from gatewatch.export.prometheus._merge import Group

# Series restored per step (a list copy each: cheaper than a value merged).
_STEP: Final = 4000

# A folded file as it is when read: name, device, inode, size, modification and change times.
Identity = tuple[str, int, int, int, int, int]
# A kept series: its table's seen set, its label values, its totals and their base.
_Kept = tuple[set[tuple[str, ...]], tuple[str, ...], list[float], list[float]]


def identity(path: str) -> Identity:
    """What tells a folded file from any other under its name (a directory wiped and folded
    anew starts its generations again)."""
    found = os.stat(path)
    return (
        os.path.basename(path),
        found.st_dev,
        found.st_ino,
        found.st_size,
        found.st_mtime_ns,
        found.st_ctime_ns,
    )


def raw_samples(raw: dict[str, Metric]) -> int:
    """How many values a scrape has left to prometheus-client so far."""
    return sum(len(metric.samples) for metric in raw.values())


class FoldedBase:
    """One merger's copy of its tables as the folded files left them."""

    def __init__(self) -> None:
        # The folded files the copy holds; None: no copy.
        self.files: frozenset[Identity] | None = None
        # Folded files read at every scrape (values left to prometheus-client).
        self.uncacheable: set[Identity] = set()
        self._kept: list[_Kept] = []

    def plan(self, folded: Iterable[Identity]) -> tuple[bool, frozenset[Identity]]:
        """Whether the copy holds the folded files ``folded`` (those it can hold), and those."""
        found = set(folded)
        self.uncacheable &= found
        wanted = frozenset(found - self.uncacheable)
        if wanted != self.files:
            self.files = None
            self._kept = []
        return self.files is not None, wanted

    def restore(self) -> Iterator[None]:
        """The tables (just reset) back to the copy, a step at a time."""
        for done, (seen, labels, totals, base) in enumerate(self._kept, 1):
            if len(base) != len(totals):
                # Buckets met since (a histogram's new bounds, added before its sum): none folded.
                base[-1:-1] = [0.0] * (len(totals) - len(base))
            totals[:] = base
            seen.add(labels)
            if done % _STEP == 0:
                yield

    def keep(self, groups: dict[str, Group | None], files: frozenset[Identity]) -> None:
        """Copy the tables as they are (reset, then only ``files`` merged)."""
        kept: list[_Kept] = []
        for group in groups.values():
            for table in () if group is None else group.tables.values():
                seen, series = table.seen, table.series
                kept.extend((seen, labels, series[labels], list(series[labels])) for labels in seen)
        self._kept = kept
        self.files = files
