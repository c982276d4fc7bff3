"""One multiprocess scrape: the workers' files read, merged and rendered in steps.

:class:`~gatewatch.export.prometheus._worker_files.WorkerFilesCollector` chooses the files (dead
workers' live gauges left out, dead workers' files folded: :mod:`._fold`) and reads them under
the fold lock, in the scrape's thread; the scrape then merges them a step at a time
(:class:`~gatewatch.export.prometheus._merge.Merger`), holding the lock (shared) until the last
value is merged, and renders the tables as the single-process scrape renders its own.

A user's metrics of kinds the merge does not know (summaries, ``mostrecent`` gauges) are
merged by prometheus-client's own accumulation, which reads the very samples its ``merge``
would have read (:func:`client_accumulate`): they are few, and their semantics stay
prometheus-client's. A metric whose files disagree (a kind or mode that changed between
workers) sends the scrape to prometheus-client's whole merge, and that metric to its
accumulation in every later scrape.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from gatewatch.export.prometheus._merge import MAX_KEYS, Entry, Merger, Unmergeable, read_values
from gatewatch.export.prometheus._merge_folded import Identity, raw_samples

Encoder = Callable[[CollectorRegistry], bytes]
_EOF = b"# EOF\n"
# Mergers kept for the scrapes running at once (each holds every key parsed).
_IDLE_KEPT = 2
# prometheus-client's accumulation step (private: see client_accumulate).
_ACCUMULATE = "_accumulate_metrics"


class MergerPool:
    """The mergers of one directory's scrapes: one per scrape running at once, kept between
    scrapes so that their parsed keys serve again."""

    def __init__(self) -> None:
        self._idle: list[Merger] = []
        self.generic_names: set[str] = set()

    def take(self) -> Merger:
        names = frozenset(self.generic_names)
        while self._idle:
            merger = self._idle.pop()
            if merger.generic_names == names:
                return merger
        return Merger(names)

    def give(self, merger: Merger) -> None:
        if len(self._idle) < _IDLE_KEPT and merger.size() <= MAX_KEYS:
            self._idle.append(merger)


class FilesRead:
    """One scrape's files, read (``sources``: file name and entries) under the fold lock, which
    :meth:`chunks` releases once they are merged (or, when the scrape never gets that far, the
    garbage collector). The folded files (``folded``: path and identity) are read only when the
    merger's copy of their totals does not hold them (:mod:`._merge_folded`)."""

    def __init__(
        self,
        pool: MergerPool,
        paths: list[str],
        sources: list[tuple[str, Iterator[Entry]]],
        release: Callable[[], None],
        folded: list[tuple[str, Identity]] | None = None,
    ) -> None:
        self._pool = pool
        self._paths = paths
        self._sources = sources
        self._folded = folded or []
        self._release = weakref.finalize(self, release)

    def chunks(
        self, fmt: str, escaping: str, wanted: frozenset[str] | None, encoder: Encoder, batch: int
    ) -> Iterator[bytes]:
        """The merged families, encoded; an empty chunk per merge step."""
        pool = self._pool
        merger = pool.take()
        kept = False
        try:
            try:
                for _ in merger.begin():
                    yield b""
                for _ in self._merge_folded(merger):
                    yield b""
                for name, entries in self._sources:
                    for _ in merger.merge(name, entries):
                        yield b""
                merger.forget_writers()
                others = client_accumulate(merger.raw, self._paths)
            except Unmergeable as exc:
                pool.generic_names.add(exc.name)
                yield encode(MultiProcessCollector.merge(self._paths, accumulate=True), encoder, wanted)  # type: ignore[no-untyped-call]
                return
            finally:
                self._sources = []
                self._release()
            for text in merger.render(fmt, escaping, wanted, batch):
                yield text.encode()
            if others:
                yield encode(others, encoder, wanted)
            kept = True
        finally:
            if kept:
                pool.give(merger)

    def _merge_folded(self, merger: Merger) -> Iterator[None]:
        """The folded files' totals: the merger's copy, or read (first, so that the tables hold
        only theirs when the copy is taken), and then, unless some of their values went to
        prometheus-client's merge, copied for the next scrapes."""
        base = merger.folded
        cached, files = base.plan(found for _, found in self._folded)
        if cached:
            yield from base.restore()
        later = []
        for path, found in self._folded:
            if found not in files:
                later.append(path)
            elif not cached:
                before = raw_samples(merger.raw)
                yield from merger.merge(os.path.basename(path), read_values(path))
                if raw_samples(merger.raw) != before:
                    base.uncacheable.add(found)
        if not cached and not base.uncacheable & files:
            base.keep(merger.groups, files)
        for path in later:
            yield from merger.merge(os.path.basename(path), read_values(path))


def client_accumulate(raw: dict[str, Metric], paths: list[str]) -> list[Metric]:
    """prometheus-client's merge of ``raw`` (metrics as its ``_read_metrics`` reads them from the
    files at ``paths``). Its accumulation step is private: without it, its whole merge of the
    files, narrowed to these metrics."""
    if not raw:
        return []
    accumulate = getattr(MultiProcessCollector, _ACCUMULATE, None)
    if accumulate is not None:
        return list(accumulate(raw, True))
    merged: Iterable[Metric] = MultiProcessCollector.merge(paths, accumulate=True)  # type: ignore[no-untyped-call]
    return [metric for metric in merged if metric.name in raw]


class _Fixed(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def encode(metrics: Iterable[Metric], encoder: Encoder, wanted: frozenset[str] | None) -> bytes:
    """``metrics`` in the scrape's format (without OpenMetrics' end: the scrape ends its body)."""
    registry = CollectorRegistry(support_collectors_without_names=True)
    registry.register(_Fixed(metrics))
    text = encoder(registry.restricted_registry(wanted) if wanted is not None else registry)  # type: ignore[arg-type]
    return text[: -len(_EOF)] if text.endswith(_EOF) else text
