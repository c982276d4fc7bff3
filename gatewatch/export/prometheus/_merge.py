"""The workers' prometheus-client files merged into flat tables, a bounded step at a time.

prometheus-client's merge (``MultiProcessCollector.merge``) parses every key of every file
(``json.loads``) and builds a Sample (a tuple and a label dict) per value and per merged series
at every scrape: at 1 000 routes, hundreds of thousands of objects, whose allocations set off
full garbage collections of the whole process. Here each file's (key, value) pairs are read
with prometheus-client's reader (:func:`read_values`), and each key is parsed once and kept
(:class:`Merger`: key -> the running totals it adds into and where), so that a steady-state
scrape parses nothing and allocates about nothing per value. The totals are shaped like the
single-process aggregator's (per family and label names: label values -> per-bucket counts and
sum) and rendered by the same renderer (:mod:`gatewatch.export.prometheus._render`).

Each value merges as prometheus-client merges it: counters, histograms and ``sum``/``livesum``
gauges add up, ``max``/``min`` gauges keep the largest/smallest, ``all``/``liveall`` gauges keep
each writer's own series under a ``pid`` label. What this merge does not know (summaries,
``mostrecent`` gauges: a user's) is left to prometheus-client's (:mod:`._merge_scrape`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, Final

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict

from gatewatch.export.prometheus._merge_folded import FoldedBase
from gatewatch.export.prometheus._render import Family

ADD: Final = "add"
MAX: Final = "max"
MIN: Final = "min"
SET: Final = "set"
# prometheus-client's gauge modes (the file name's second part) this merge knows.
GAUGE_OPS: Final = {
    "sum": ADD,
    "livesum": ADD,
    "max": MAX,
    "livemax": MAX,
    "min": MIN,
    "livemin": MIN,
    "all": SET,
    "liveall": SET,
}
_START: Final = {ADD: 0.0, SET: 0.0, MAX: -math.inf, MIN: math.inf}
# Values merged per step (about a millisecond: docs/internals.md).
STEP: Final = 1000
# A key met for the first time costs about as much as this many known ones (json.loads).
MISS: Final = 10
# And at most this many series: a series' first scrape builds its line prefixes.
MAX_SERIES: Final = 128
# Keys kept parsed, at most: past it, a scrape starts again from nothing. The label caps bound
# the keys (and dead writers' pid series are forgotten: Merger.forget_writers); this bounds
# the memory of a server with caps raised far.
MAX_KEYS: Final = 500_000

Entry = tuple[str, float, float, int]


class Unmergeable(Exception):
    """A metric this merge cannot take as it took it so far (its kind or mode differs between
    files, or a sample it does not know): the scrape is left to prometheus-client's merge."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def read_values(path: str) -> Iterator[Entry]:
    """One file's (key, value, timestamp, position) entries, with prometheus-client's own reader
    (the file is read at the call; the entries are decoded as they are iterated)."""
    found: Iterator[Entry] = MmapedDict.read_all_values_from_file(path)  # type: ignore[no-untyped-call]
    return found


def file_kind(name: str) -> tuple[str, str, str]:
    """A file's kind, gauge mode and writer, as prometheus-client reads them from its name
    (``gauge_liveall_12.db`` -> gauge, liveall, 12; ``counter_12.db`` -> counter, "", "")."""
    parts = name.split("_")
    if parts[0] == "gauge" and len(parts) > 2:
        return "gauge", parts[1], parts[2][:-3]
    return parts[0], "", ""


def file_op(kind: str, mode: str) -> str | None:
    """How a file's values merge; None when this merge does not know (prometheus-client's)."""
    if kind in ("counter", "histogram"):
        return ADD
    return GAUGE_OPS.get(mode) if kind == "gauge" else None


class Table:
    """One family's series of one set of label names: label values -> totals (a histogram's:
    a count per bucket in the order the bounds were met, then the sum; any other's: the value)."""

    __slots__ = ("label_names", "le_index", "les", "op", "seen", "series", "series_les", "start")

    def __init__(self, label_names: tuple[str, ...], op: str) -> None:
        self.label_names = label_names
        self.op = op
        self.start = [_START[op]]
        self.les: list[float] = []
        self.le_index: dict[float, int] = {}
        self.series: dict[tuple[str, ...], list[float]] = {}
        # A histogram's series -> the bounds its keys name (a series missing some renders alone).
        self.series_les: dict[tuple[str, ...], set[float]] = {}
        # The label values read in this scrape.
        self.seen: set[tuple[str, ...]] = set()

    def totals(self, labels: tuple[str, ...]) -> list[float]:
        found = self.series.get(labels)
        if found is None:
            found = self.series[labels] = list(self.start)
        return found

    def bucket(self, le: float) -> int:
        index = self.le_index.get(le)
        if index is None:
            index = self.le_index[le] = len(self.les)
            self.les.append(le)
            self.start.insert(-1, 0.0)
            for totals in self.series.values():
                totals.insert(-1, 0.0)
        return index

    def reset(self) -> None:
        self.seen.clear()
        start = self.start
        for totals in self.series.values():
            totals[:] = start


class Group:
    """One metric (by prometheus-client's name): its kind, how it merges, its help, and a table
    per set of label names its keys have."""

    __slots__ = ("help", "kind", "name", "op", "tables")

    def __init__(self, name: str, kind: str, op: str, help_text: str) -> None:
        self.name, self.kind, self.op, self.help = name, kind, op, help_text
        self.tables: dict[tuple[str, ...], Table] = {}


# A parsed key: the totals it merges into, where, the table's seen set and its label values.
Record = tuple[list[float], int, set[tuple[str, ...]], tuple[str, ...]]
# A key left to prometheus-client: metric name, sample name, sorted labels, help.
Raw = tuple[str, str, tuple[tuple[str, str], ...], str]


class Merger:
    """Kept across scrapes: parsed keys, the tables and their families as rendered. One scrape
    at a time uses it (:class:`gatewatch.export.prometheus._merge_scrape.MergerPool`)."""

    def __init__(self, generic_names: frozenset[str] = frozenset()) -> None:
        # Metrics left to prometheus-client whatever their files say.
        self.generic_names = generic_names
        self.groups: dict[str, Group | None] = {}
        # Per merge op: key -> record (``set`` gauges': key and writer).
        self._keys: dict[str, dict[str, Record]] = {op: {} for op in _START}
        self._raw_keys: dict[str, Raw] = {}
        self._families: dict[tuple[Any, ...], Family] = {}
        # The writers of this scrape's "all"/"liveall" files (its pid labels).
        self._pids: set[str] = set()
        # This scrape's values left to prometheus-client, as its merge reads them.
        self.raw: dict[str, Metric] = {}
        self.folded = FoldedBase()

    def size(self) -> int:
        return sum(map(len, self._keys.values())) + len(self._raw_keys)

    def begin(self) -> Iterator[None]:
        """Every table back to its start, a step at a time."""
        self.raw = {}
        self._pids.clear()
        done = 0
        for group in self.groups.values():
            for table in () if group is None else group.tables.values():
                table.reset()
                done += len(table.series)
                if done >= STEP * 4:
                    done = 0
                    yield

    def merge(self, name: str, entries: Iterator[Entry]) -> Iterator[None]:
        """Merge one file's entries (``name``: its file name), a step at a time."""
        kind, mode, pid = file_kind(name)
        op = file_op(kind, mode)
        source = (kind, mode, pid, op)
        miss = self._miss
        if op is None:
            for count, (key, value, timestamp, _) in enumerate(entries, 1):
                miss(key, value, timestamp, source)
                if count % (STEP // MISS) == 0:
                    yield
            return
        known = self._keys[op]
        if op == SET:
            self._pids.add(pid)
        while True:
            count = 0
            if op == ADD:
                for key, value, timestamp, _ in entries:
                    found = known.get(key)
                    if found is None:
                        miss(key, value, timestamp, source)
                        count += MISS
                    else:
                        totals, index, seen, labels = found
                        totals[index] += value
                        seen.add(labels)
                    count += 1
                    if count >= STEP:
                        break
                else:
                    return
            else:
                for key, value, timestamp, _ in entries:
                    found = known.get(key if op != SET else f"{key}\0{pid}")
                    if found is None:
                        miss(key, value, timestamp, source)
                        count += MISS
                    else:
                        _apply(found, op, value)
                    count += 1
                    if count >= STEP:
                        break
                else:
                    return
            yield

    def forget_writers(self) -> None:
        """Forget the "all"/"liveall" series of writers this scrape did not read (dead workers':
        the only keys that grow with recycled workers)."""
        pids = self._pids
        keys = self._keys[SET]
        for key in [key for key in keys if key.rpartition("\0")[2] not in pids]:
            del keys[key]
        for group in self.groups.values():
            if group is None or group.op != SET:
                continue
            for table in group.tables.values():
                for labels in [labels for labels in table.series if labels[-1] not in pids]:
                    del table.series[labels]
                    table.series_les.pop(labels, None)

    def _miss(
        self, key: str, value: float, timestamp: float, source: tuple[str, str, str, str | None]
    ) -> None:
        kind, mode, pid, op = source
        if key in self._raw_keys:
            self._raw(key, value, timestamp, kind, mode, pid)
            return
        metric_name, name, labels, help_text = json.loads(key)
        if metric_name in self.groups:
            group = self.groups[metric_name]
        else:
            generic = op is None or metric_name in self.generic_names
            group = None if generic else Group(metric_name, kind, op or ADD, help_text)
            self.groups[metric_name] = group
        if group is None:
            self._raw_keys[key] = (metric_name, name, tuple(sorted(labels.items())), help_text)
            self._raw(key, value, timestamp, kind, mode, pid)
            return
        if op is None or group.kind != kind or group.op != op:
            raise Unmergeable(metric_name)
        record = self._record(group, name, labels, pid)
        self._keys[op][key if op != SET else f"{key}\0{pid}"] = record
        _apply(record, op, value)

    def _record(self, group: Group, name: str, labels: dict[str, str], pid: str) -> Record:
        items = sorted(labels.items())
        le: float | None = None
        if group.kind == "histogram":
            if name == group.name + "_bucket" and "le" in labels:
                le = float(labels["le"])
                items = [item for item in items if item[0] != "le"]
            elif name != group.name + "_sum":
                raise Unmergeable(group.name)
        elif name != group.name + ("_total" if group.kind == "counter" else ""):
            raise Unmergeable(group.name)
        if group.kind == "gauge":
            # prometheus-client's labels: its own pid for "all" gauges, never a key's pid.
            items = [item for item in items if item[0] != "pid"]
            if group.op == SET:
                items.append(("pid", pid))
        names = tuple(label for label, _ in items)
        values = tuple(value for _, value in items)
        table = group.tables.get(names)
        if table is None:
            table = group.tables[names] = Table(names, group.op)
        index = -1
        if le is not None:
            index = table.bucket(le)
            table.series_les.setdefault(values, set()).add(le)
        return table.totals(values), index, table.seen, values

    def _raw(self, key: str, value: float, timestamp: float, kind: str, mode: str, pid: str) -> None:
        """A value for prometheus-client's merge, as its ``_read_metrics`` reads it."""
        metric_name, name, labels_key, help_text = self._raw_keys[key]
        metric = self.raw.get(metric_name)
        if metric is None:
            metric = self.raw[metric_name] = Metric(metric_name, help_text, kind)
        if kind == "gauge":
            metric._multiprocess_mode = mode  # type: ignore[attr-defined]
            metric.add_sample(name, (*labels_key, ("pid", pid)), value, timestamp)  # type: ignore[arg-type]
        else:
            metric.add_sample(name, labels_key, value)  # type: ignore[arg-type]

    def render(self, fmt: str, escaping: str, wanted: frozenset[str] | None, batch: int) -> Iterator[str]:
        """The merged families as exposition text, about ``batch`` lines a chunk."""
        out: list[str] = []
        done = 0
        for group in self.groups.values():
            if group is None:
                continue
            header = False
            for table in group.tables.values():
                seen = table.seen
                if not seen:
                    continue
                labels = list(filter(seen.__contains__, table.series))
                for bounds, some, totals in _parts(group, table, labels):
                    key = (group.name, table.label_names, bounds, escaping)
                    family = self._families.get(key)
                    if family is None:
                        family = self._families[key] = Family(
                            group.kind, group.name, group.help, table.label_names, bounds, escaping
                        )
                    parts: tuple[bool, ...] = (True, True, True)
                    if wanted is not None:
                        parts = tuple(n in wanted for n in family.sample_names)
                        if not any(parts):
                            continue
                    if not header:
                        out.append(family.headers[fmt])
                        header = True
                    step = min(max(batch // family.lines_per_series, 1), MAX_SERIES)
                    for start in range(0, len(some), step):
                        end = start + step
                        family.lines(out, some[start:end], totals[start:end], None, parts)
                        done += min(step, len(some) - start) * family.lines_per_series
                        if done >= batch:
                            yield "".join(out)
                            out, done = [], 0
        if out:
            yield "".join(out)


def _apply(record: Record, op: str, value: float) -> None:
    totals, index, seen, labels = record
    if op == ADD:
        totals[index] += value
    elif op == SET or ((value > totals[index]) if op == MAX else (value < totals[index])):
        totals[index] = value
    seen.add(labels)


def _parts(
    group: Group, table: Table, labels: list[tuple[str, ...]]
) -> Iterator[tuple[tuple[float, ...], list[tuple[str, ...]], list[list[float]]]]:
    """A table's series as the renderer takes them: bounds, label values, totals (per-bucket
    counts in the bounds' order, +Inf's, the sum). A histogram's series whose keys name other
    bounds than the table's (workers of two bucket settings) are rendered apart, with theirs."""
    totals = list(map(table.series.__getitem__, labels))
    les = table.les
    if group.kind != "histogram":
        yield (), labels, totals
        return
    fewest = min(map(len, map(table.series_les.__getitem__, labels)))
    if les == sorted(les) and les[-1] == math.inf and fewest == len(les):
        yield tuple(les[:-1]), labels, totals
        return
    kinds: dict[frozenset[float], tuple[list[tuple[str, ...]], list[list[float]]]] = {}
    for series_labels, series in zip(labels, totals, strict=True):
        own = frozenset(table.series_les[series_labels])
        same = kinds.setdefault(own, ([], []))
        same[0].append(series_labels)
        same[1].append(series)
    for own, (some, their_totals) in kinds.items():
        bounds = sorted(own)
        # prometheus-client's histograms always have +Inf; one without would be counted past.
        positions = [table.le_index[le] for le in bounds if le != math.inf]
        inf = table.le_index.get(math.inf) if math.inf in own else None
        reordered = [
            [*(series[p] for p in positions), 0.0 if inf is None else series[inf], series[-1]]
            for series in their_totals
        ]
        yield tuple(le for le in bounds if le != math.inf), some, reordered
