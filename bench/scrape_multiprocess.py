"""``python -m bench.scrape_multiprocess``: CPU per multiprocess scrape against recycled workers.

Under ``--max-requests`` recycling every worker ever started leaves its prometheus-client
files, and a plain multiprocess scrape reads them all. Here one running worker and ``D`` dead
ones (0, 10, 200, 2 000) have written the same series through gatewatch's real multiprocess
sink (the dead workers' files are copies of one real dead worker's, under pids no process
holds); each scrape is the merge and the text exposition of one ``/metrics`` answer (gatewatch's merge:
:mod:`gatewatch.export.prometheus._merge`, its parsed keys kept between scrapes as a server keeps
them), timed by this process's CPU clock. *before*: every file read (what a scrape costs with no folding);
*after*: once the dead workers' files are folded into one per kind
(:mod:`gatewatch.export.prometheus._fold`); *first*: the scrape that meets the D dead workers
and folds at most one batch of their files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gatewatch.demo.text_table import text_table

DEAD = (0, 10, 200, 2000)
QUICK_DEAD = (0, 10, 200)
ROUTES = 20
REPEATS = 7
QUICK_REPEATS = 3


def _serve(directory: str, routes: int) -> None:
    """In a forked worker: one request per route, recorded through gatewatch's multiprocess sink."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from gatewatch.export.prometheus.multiprocess import new_process_monitor

    monitor, _ = new_process_monitor()
    monitor.note_server("wsgi", "gunicorn")
    monitor.note_worker_threads(1)
    for index in range(routes):
        record = monitor.start("wsgi", "GET", f"/route/{index}")
        record.route = f"/route/{index}"
        record.status = 200
        record.cpu = 0.001
        record.first_byte = record.start + 0.002
        record.request_bytes, record.response_bytes = 10, 200
        record.response_ended()
        monitor.leave_in_flight(record)
        monitor.finish(record, time.perf_counter() + 0.003)


def _worker(directory: str, routes: int, *, stay: bool) -> tuple[int, int | None]:
    """Fork a worker that serves and exits, or (``stay``) stays until the returned pipe closes:
    (pid, the pipe's write end)."""
    ready, told = os.pipe()
    hold, release = os.pipe() if stay else (None, None)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready)
            if release is not None:
                # Else this process's own copy would keep the pipe open for good.
                os.close(release)
            _serve(directory, routes)
            os.write(told, b"x")
            if hold is not None:
                os.read(hold, 1)
        finally:
            os._exit(0)
    os.close(told)
    assert os.read(ready, 1) == b"x"
    os.close(ready)
    if hold is not None:
        os.close(hold)
    else:
        os.waitpid(pid, 0)
    return pid, release


def _absent_pids(count: int) -> list[int]:
    """Pids no process can hold (above the kernel's maximum): dead workers for every check."""
    try:
        limit = int(Path("/proc/sys/kernel/pid_max").read_text())
    except OSError:
        limit = 4_194_304
    return [limit + 1 + index for index in range(count)]


def _dead_copies(template: str, directory: str, count: int) -> None:
    """``count`` dead workers' files: the dead template worker's, under absent pids."""
    files = [name for name in os.listdir(template) if name.endswith(".db")]
    for pid in _absent_pids(count):
        for name in files:
            stem = name.rsplit("_", 1)[0]
            shutil.copyfile(os.path.join(template, name), os.path.join(directory, f"{stem}_{pid}.db"))


# (directory, fold batch) -> the scrape's registry, kept as a server keeps it (its merger's
# parsed keys serve every later scrape).
_REGISTRIES: dict[tuple[str, int], Any] = {}


def _scrape(directory: str, fold_batch: int) -> float:
    """CPU seconds of one scrape: what gatewatch's ``/metrics`` does (merge, text exposition)."""
    from prometheus_client import CollectorRegistry

    from gatewatch.export.prometheus._fold import BATCH
    from gatewatch.export.prometheus._scrape import Families, Scrape, render_all
    from gatewatch.export.prometheus._worker_files import WorkerFilesCollector

    batch = BATCH if fold_batch < 0 else fold_batch
    registry = _REGISTRIES.get((directory, batch))
    if registry is None:
        registry = _REGISTRIES[directory, batch] = CollectorRegistry(support_collectors_without_names=True)
        WorkerFilesCollector(registry, directory, fold_batch=batch)
    started = time.process_time()
    render_all(Scrape(registry, Families(), accept="", accept_encoding="", query=""))
    return time.process_time() - started


def _median(directory: str, fold_batch: int, repeats: int) -> float:
    return statistics.median(_scrape(directory, fold_batch) for _ in range(repeats))


def _db_files(directory: str) -> int:
    return sum(1 for name in os.listdir(directory) if name.endswith(".db"))


def run(
    dead: Sequence[int] = DEAD, *, routes: int = ROUTES, repeats: int = REPEATS
) -> list[dict[str, float]]:
    """One row per number of dead workers: files and CPU per scrape before and after folding
    (``*_ms``: the median of ``repeats`` scrapes, in milliseconds)."""
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="gatewatch-bench-mp-") as root:
        template = os.path.join(root, "template")
        os.mkdir(template)
        _worker(template, routes, stay=False)
        for count in dead:
            directory = os.path.join(root, f"dead-{count}")
            os.mkdir(directory)
            pid, release = _worker(directory, routes, stay=True)
            try:
                _dead_copies(template, directory, count)
                # The first scrape retires the dead workers' live gauges, as on a real server.
                _scrape(directory, 0)
                files_before = _db_files(directory)
                before = _median(directory, 0, repeats)
                first = _scrape(directory, -1)
                folding = 1
                while _has_unfolded(directory, pid):
                    _scrape(directory, -1)
                    folding += 1
                after = _median(directory, -1, repeats)
                rows.append(
                    {
                        "dead_workers": count,
                        "files_before": files_before,
                        "before_ms": before * 1e3,
                        "first_ms": first * 1e3,
                        "folding_scrapes": folding,
                        "files_after": _db_files(directory),
                        "after_ms": after * 1e3,
                    }
                )
            finally:
                assert release is not None
                os.close(release)
                os.waitpid(pid, 0)
    none = rows[0]["after_ms"] if rows and rows[0]["dead_workers"] == 0 else None
    for row in rows:
        row["after_vs_none"] = row["after_ms"] / none if none else float("nan")
        row["before_vs_none"] = row["before_ms"] / none if none else float("nan")
    return rows


def _has_unfolded(directory: str, live: int) -> bool:
    from gatewatch.export.prometheus import _fold

    return any(
        (_fold._PID_FILE.match(name) and not name.endswith(f"_{live}.db")) or _fold._CLAIMED.match(name)
        for name in os.listdir(directory)
        if name not in _fold.read_manifest(directory).absorbed
    )


def format_rows(rows: Sequence[dict[str, float]]) -> list[str]:
    header = (
        "dead workers",
        "files",
        "before ms",
        "x none",
        "first ms",
        "folding scrapes",
        "files after",
        "after ms",
        "x none",
    )
    table = [
        (
            f"{row['dead_workers']:.0f}",
            f"{row['files_before']:.0f}",
            f"{row['before_ms']:.1f}",
            f"{row['before_vs_none']:.2f}",
            f"{row['first_ms']:.1f}",
            f"{row['folding_scrapes']:.0f}",
            f"{row['files_after']:.0f}",
            f"{row['after_ms']:.1f}",
            f"{row['after_vs_none']:.2f}",
        )
        for row in rows
    ]
    return text_table(header, table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scrape_multiprocess", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="up to 200 dead workers, 3 scrapes each")
    parser.add_argument(
        "--routes", type=int, default=ROUTES, help=f"routes each worker served (default {ROUTES})"
    )
    args = parser.parse_args(argv)
    rows = run(
        QUICK_DEAD if args.quick else DEAD,
        routes=args.routes,
        repeats=QUICK_REPEATS if args.quick else REPEATS,
    )
    print(
        f"Multiprocess scrape CPU: 1 running worker + N dead ones, {args.routes} routes each; "
        "median CPU per scrape (merge + text); x none = / the scrape with no dead worker after folding",
        *format_rows(rows),
        sep="\n",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
