"""prometheus-client's merge of the workers' files, without the live gauges of dead workers.

A live gauge (multiprocess modes ``livesum``, ``liveall``, ``livemax``...) is a worker's state
now: its requests in flight, its busy threads, its open WebSockets. prometheus-client drops a
dead worker's only when the server calls ``mark_process_dead`` (gatewatch's gunicorn
``child_exit`` does); uvicorn, hypercorn and granian have no such hook, so a worker killed
holding a request kept it in ``gatewatch_http_requests_in_flight`` for good. Each scrape asks
instead whether the files' writers still run (:mod:`gatewatch._processes`): a dead writer's
live-gauge files are removed, as ``mark_process_dead`` would; a file whose pid a later process
holds now is left out but left in place (that process may be a new worker about to open it:
:func:`forget_predecessor` removes it then). Counters and histograms of dead workers stay in
the totals: their requests happened.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import CollectorRegistry

from gatewatch._processes import PREDATES_MARGIN, Process, process, process_started

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
            # A read-only or foreign directory only costs the removal: the file is left out.
            with contextlib.suppress(OSError):
                os.unlink(path)
    return kept


def forget_predecessor(directory: str) -> list[str]:
    """In a worker about to open its files: remove the live-gauge files of an earlier process
    with this one's pid, which prometheus-client would otherwise open and carry on from (this
    worker would start with the dead one's requests in flight). Returns the names removed."""
    pid = os.getpid()
    started = process_started(pid)
    if started is None:
        return []
    removed = []
    for path in glob.glob(os.path.join(glob.escape(directory), f"gauge_live*_{pid}.db")):
        with contextlib.suppress(OSError):
            if os.stat(path).st_mtime < started - PREDATES_MARGIN:
                os.unlink(path)
                removed.append(os.path.basename(path))
    return sorted(removed)


def forget_live_gauges(directory: str, pid: int) -> None:
    """prometheus-client's ``mark_process_dead``, without failing when a scrape removed the
    file first (this module's scrapes remove dead workers' files too)."""
    for path in glob.glob(os.path.join(glob.escape(directory), f"gauge_live*_{pid}.db")):
        if live_gauge_pid(os.path.basename(path)) == pid:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


class WorkerFilesCollector(MultiProcessCollector):
    """:class:`~prometheus_client.multiprocess.MultiProcessCollector` leaving out the live gauges
    of workers that are not running (:func:`current_files`)."""

    def __init__(self, registry: CollectorRegistry | None, path: str | None = None) -> None:
        super().__init__(registry, path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        paths = glob.glob(os.path.join(glob.escape(self._path), "*.db"))
        metrics: Iterable[Metric] = self.merge(current_files(paths), accumulate=True)  # type: ignore[no-untyped-call]
        return metrics
