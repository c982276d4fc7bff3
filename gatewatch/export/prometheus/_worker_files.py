"""prometheus-client's merge of the workers' files, without the live gauges of dead workers.

A live gauge (multiprocess modes ``livesum``, ``liveall``, ``livemax``...) is a worker's state
now: its requests in flight, its busy threads, its open WebSockets. prometheus-client drops a
dead worker's only when the server calls ``mark_process_dead`` (gatewatch's gunicorn
``child_exit`` does); uvicorn, hypercorn and granian have no such hook, so a worker killed
holding a request kept it in ``gatewatch_http_requests_in_flight`` for good. Each scrape asks
instead whether the files' writers still run (:mod:`gatewatch._processes`): a dead writer's
live-gauge files are removed, as ``mark_process_dead`` would; a file whose pid a later process
holds now is left out but left in place (that process may be a new worker about to open it:
:func:`forget_predecessor` removes it then). A dead worker's in-flight series read 0 rather
than vanish (:func:`retire`). Counters and histograms of dead workers stay in the totals:
their requests happened; they are folded into one file per kind (:mod:`._fold`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
from collections.abc import Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import CollectorRegistry

from gatewatch._printable import gatewatch_logger
from gatewatch._processes import Process, process
from gatewatch.export.prometheus._fold import (
    BATCH,
    FoldLock,
    fold,
    fold_lock,
    is_folded,
    read_manifest,
    visible_files,
)
from gatewatch.export.prometheus._merge import read_values
from gatewatch.export.prometheus._merge_folded import identity
from gatewatch.export.prometheus._merge_scrape import FilesRead, MergerPool
from gatewatch.export.prometheus._own_families import claim, rendering

logger = gatewatch_logger()

# prometheus-client names a gauge's file gauge_<mode>_<pid>.db; the live modes start "live".
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]*_(\d+)\.db$")


def live_gauge_pid(name: str) -> int | None:
    """The writer's pid of a live gauge's file (``gauge_livesum_12.db`` -> 12), else None."""
    match = _LIVE_GAUGE_FILE.match(name)
    return None if match is None else int(match.group(1))


def current_files(paths: Iterable[str]) -> list[str]:
    """``paths`` (prometheus-client's files) without the live gauges of writers that are not
    running any more; those of writers that are gone are removed from the directory too."""
    kept = []
    # Each worker has a file per live mode: its process is read once per scrape.
    found: dict[int, Process] = {}
    for path in paths:
        pid = live_gauge_pid(os.path.basename(path))
        if pid is None:
            kept.append(path)
            continue
        try:
            written = os.stat(path).st_mtime
        except OSError:
            continue
        writer = found.get(pid)
        if writer is None:
            writer = found[pid] = process(pid)
        state = writer.wrote(written)
        if state == "running":
            kept.append(path)
        elif state == "gone":
            retired = retire(path, pid)
            if retired is not None:
                kept.append(retired)
    return kept


# A dead worker's livesum label sets at 0: "sum" merges as "livesum" does (prometheus-client
# adds both across files), is no live mode, so no scrape asks about it again, and the suffix
# keeps it apart from a gauge of the worker's own with multiprocess_mode="sum".
_RETIRED = "gauge_sum_{pid}-ended.db"


def retire(path: str, pid: int) -> str | None:
    """Take a dead writer's live-gauge file out of the merge, as ``mark_process_dead`` does;
    a ``livesum`` one (requests in flight, open WebSockets) first leaves its label sets at 0 in
    a file of its own, so that a series that has been 1 reads 0 rather than vanishing (as in
    single-process mode), even when no running worker has that label set. Returns that file."""
    retired = None
    if os.path.basename(path).startswith("gauge_livesum_"):
        retired = _zeroed_copy(path, os.path.join(os.path.dirname(path), _RETIRED.format(pid=pid)))
    # A read-only or foreign directory only costs the removal: the file is left out.
    with contextlib.suppress(OSError):
        os.unlink(path)
    return retired


def _zeroed_copy(path: str, target: str) -> str | None:
    try:
        keys = [key for key, _, _, _ in MmapedDict.read_all_values_from_file(path)]  # type: ignore[no-untyped-call]
        # Whole or not at all: a scrape merging the directory meanwhile sees no half file.
        fd, temporary = tempfile.mkstemp(".tmp", ".gatewatch-ended-", os.path.dirname(target))
    except OSError:
        return None
    os.close(fd)
    try:
        values = MmapedDict(temporary)  # type: ignore[no-untyped-call]
        try:
            for key in keys:
                values.write_value(key, 0.0, 0.0)  # type: ignore[no-untyped-call]
        finally:
            values.close()  # type: ignore[no-untyped-call]
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return None
    return target


def forget_predecessor(directory: str) -> list[str]:
    """In a worker about to open its files: remove the live-gauge files of an earlier process
    with this one's pid, which prometheus-client would otherwise open and carry on from (this
    worker would start with the dead one's requests in flight). Returns the names removed."""
    pid = os.getpid()
    this = process(pid)
    removed = []
    for path in glob.glob(os.path.join(glob.escape(directory), f"gauge_live*_{pid}.db")):
        with contextlib.suppress(OSError):
            if this.wrote(os.stat(path).st_mtime) == "replaced":
                os.unlink(path)
                removed.append(os.path.basename(path))
    return sorted(removed)


def forget_live_gauges(directory: str, pid: int) -> None:
    """A dead worker's live gauges out of the merge (:func:`retire`): gunicorn's ``child_exit``."""
    for path in glob.glob(os.path.join(glob.escape(directory), f"gauge_live*_{pid}.db")):
        if live_gauge_pid(os.path.basename(path)) == pid:
            retire(path, pid)


class WorkerFilesCollector(MultiProcessCollector):
    """:class:`~prometheus_client.multiprocess.MultiProcessCollector` leaving out the live gauges
    of workers that are not running (:func:`current_files`), and reading dead workers' counters,
    histograms and sum/max gauges folded into one file per kind (:mod:`._fold`): a scrape reads
    as many files with thousands of recycled workers as with none. ``fold_batch``: how many
    dead workers' files a scrape folds at most (0: none)."""

    def __init__(
        self, registry: CollectorRegistry | None, path: str | None = None, *, fold_batch: int = BATCH
    ) -> None:
        super().__init__(registry, path)  # type: ignore[no-untyped-call]
        self.fold_batch = fold_batch
        self._pool = MergerPool()

    def collect(self) -> Iterable[Metric]:
        if rendering():
            # gatewatch's /metrics merges and renders the files itself, in steps.
            claim(self._read())
            return []
        with self._files() as (paths, _):
            metrics: Iterable[Metric] = self.merge(paths, accumulate=True)  # type: ignore[no-untyped-call]
        return metrics

    @contextlib.contextmanager
    def _files(self) -> Iterator[tuple[list[str], FoldLock]]:
        """The files a scrape merges, under the fold lock (this scrape folding first when no
        one else holds it)."""
        directory = self._path
        # One scrape folds (exclusive); the others read meanwhile (shared): none sees a fold
        # half done.
        with fold_lock(directory, fold=self.fold_batch > 0) as lock:
            if lock.exclusive:
                try:
                    fold(directory, batch=self.fold_batch)
                except OSError as exc:
                    # A full disk, say: each step left the directory whole, and the scrape
                    # reads it unfolded.
                    logger.warning("gatewatch: could not fold dead workers' files in %s: %s", directory, exc)
            names = [name for name in os.listdir(directory) if name.endswith(".db")]
            paths = visible_files(directory, names, read_manifest(directory))
            yield current_files(paths), lock

    def _read(self) -> FilesRead:
        """The files read, the fold lock held (shared) until the scrape has merged them."""
        stack = contextlib.ExitStack()
        try:
            paths, lock = stack.enter_context(self._files())
            lock.share()
            sources = []
            folded = []
            for path in paths:
                name = os.path.basename(path)
                if is_folded(name):
                    # Read in the merge, under this lock, when the merger has not kept them.
                    folded.append((path, identity(path)))
                    continue
                try:
                    sources.append((name, read_values(path)))
                except FileNotFoundError:
                    # As prometheus-client's merge: a live gauge's file removed meanwhile
                    # (a dead worker's, retired by another scrape).
                    if live_gauge_pid(name) is None:
                        raise
        except BaseException:
            stack.close()
            raise
        return FilesRead(self._pool, paths, sources, stack.close, folded)
