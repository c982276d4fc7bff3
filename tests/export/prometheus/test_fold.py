"""Dead workers' files folded into one per kind (issue 28): every scrape's totals stay exact
before, during and after folding, with two scrapers at once, and when the folding process is
killed (SIGKILL) between any two steps of a fold.

The workers are real processes writing through gatewatch's multiprocess sink
(:mod:`tests.support.dying_workers`); the scrapers are real processes too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gatewatch import _processes as processes
from gatewatch.export.prometheus import _fold
from tests.support.dying_workers import requests_of, scrape_count, unfolded
from tests.support.start_up_warnings import start_up_warnings
from tests.support.traffic import ROOT

NO_PROC = processes.process_started(os.getpid()) is None
pytestmark = pytest.mark.skipif(NO_PROC, reason="no /proc to tell dead workers")


def harness(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.support.dying_workers", *map(str, args)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def dead_workers(directory: Path, count: int) -> int:
    done = harness("workers", directory, count)
    assert done.returncode == 0, done.stderr
    return requests_of(count)


def db_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.db"))


def test_folding_keeps_every_count_and_leaves_one_file_per_kind(tmp_path: Path) -> None:
    expected = dead_workers(tmp_path, 30)
    live = subprocess.Popen(
        [sys.executable, "-m", "tests.support.dying_workers", "live", tmp_path, "5"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stdout is not None and live.stdout.readline() == "ready\n"
        expected += 5
        assert scrape_count(str(tmp_path), 0) == (expected, expected)
        # 30 dead workers' counter, histogram, info (max) and in-flight files, 7 at a time.
        assert len(unfolded(str(tmp_path))) >= 90
        scrapes = 0
        while unfolded(str(tmp_path)):
            assert scrape_count(str(tmp_path), 7) == (expected, expected)
            scrapes += 1
        assert scrapes > 10
        assert scrape_count(str(tmp_path), 7) == (expected, expected)
        kinds = ("counter", "gauge_max", "gauge_sum", "histogram")
        generation = _fold.read_manifest(str(tmp_path)).generation
        folded = [f"{kind}_folded-{generation}.db" for kind in kinds]
        # The live worker's files stay its own (its in-flight and busy gauges are live ones).
        own = sorted(name for name in db_files(tmp_path) if name.endswith(f"_{live.pid}.db"))
        assert len(own) >= 3
        assert db_files(tmp_path) == sorted(folded + own)
    finally:
        live.communicate(timeout=60)
    # Once it is gone too, its files fold in: nothing counted is lost.
    while unfolded(str(tmp_path)):
        assert scrape_count(str(tmp_path), 256) == (expected, expected)
    assert [name for name in db_files(tmp_path) if "_folded-" not in name] == []


@pytest.mark.parametrize("step", ["claimed", "written", "committed", "removed"])
def test_a_fold_killed_at_any_step_loses_and_doubles_nothing(tmp_path: Path, step: str) -> None:
    expected = dead_workers(tmp_path, 12)
    # A first fold committed, so that the killed one also replaces a generation.
    assert harness("scrape", tmp_path, 8, 1).stdout.split() == [str(float(expected))] * 2
    killed = harness("scrape", tmp_path, 8, 1, env={_fold.STOP_ENV: step})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # What the killed fold left: read without folding, then by folds that clean it up.
    assert scrape_count(str(tmp_path), 0) == (expected, expected)
    while unfolded(str(tmp_path)):
        assert scrape_count(str(tmp_path), 8) == (expected, expected)
    assert scrape_count(str(tmp_path), 8) == (expected, expected)
    manifest = _fold.read_manifest(str(tmp_path))
    assert db_files(tmp_path) == sorted(manifest.folded)


def test_two_scrapers_folding_at_once_read_exact_totals(tmp_path: Path) -> None:
    expected = dead_workers(tmp_path, 40)
    command = [sys.executable, "-m", "tests.support.dying_workers", "scrape-until-folded", str(tmp_path), "3"]
    scrapers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [scraper.communicate(timeout=300)[0].split() for scraper in scrapers]
    assert [scraper.returncode for scraper in scrapers] == [0, 0]
    # About 200 files, 3 a scrape: both scraped many times while the other folded.
    assert sum(len(output) for output in outputs) > 2 * 40
    assert {float(number) for output in outputs for number in output} == {float(expected)}
    assert scrape_count(str(tmp_path), 0) == (expected, expected)
    assert unfolded(str(tmp_path)) == []


def test_a_file_given_back_to_a_new_process_with_the_pid_is_read_once(tmp_path: Path) -> None:
    # A fold killed just after it gave a claimed file back to a process started with the dead
    # writer's pid leaves the file under both names: it is read, and kept, under the pid's.
    expected = dead_workers(tmp_path, 1)
    [counter] = tmp_path.glob("counter_*.db")
    pid, inode = int(counter.stem.split("_")[1]), counter.stat().st_ino
    given_back = tmp_path / f"counter_{os.getpid()}.db"
    os.rename(counter, given_back)
    os.link(given_back, tmp_path / f"counter_dead-{os.getpid()}-{inode}.db")
    assert scrape_count(str(tmp_path), 0) == (expected, expected)
    assert scrape_count(str(tmp_path), 8) == (expected, expected)
    assert f"counter_{os.getpid()}.db" in db_files(tmp_path)
    assert not [name for name in db_files(tmp_path) if name.startswith("counter_dead-")]
    assert str(pid) not in " ".join(db_files(tmp_path))


def test_a_worker_warns_of_folded_files(tmp_path: Path) -> None:
    # Folded, an earlier run's dead workers leave no pid file; their counts would be added.
    dead_workers(tmp_path, 2)
    scrape_count(str(tmp_path), 8)
    started = processes.process_started(os.getpid())
    assert started is not None
    folded = sorted(tmp_path.glob("*_folded-*.db"))
    assert len(folded) == 3
    for path in folded:
        os.utime(path, (started - 10, started - 10))
    records = start_up_warnings(tmp_path)
    [(level, warning), (_, siblings)] = records
    assert level == "WARNING"
    assert "holds the folded files of an earlier run's dead workers (counter_folded-1.db, " in warning
    # The dead workers themselves wrote after this "server" (pytest, the worker's parent)
    # started: folded, they are still named, from the fold's manifest.
    pids = ", ".join(str(pid) for pid, _ in _fold.read_manifest(str(tmp_path)).writers)
    assert len(pids.split(", ")) == 2
    assert f"workers of this server ended without a hook telling gatewatch (pids {pids})" in siblings


def test_an_earlier_runs_files_folded_by_a_sibling_first_are_still_named(tmp_path: Path) -> None:
    """Seen under gunicorn without the hooks (1 run in 8): the second worker's first scrape
    folded the earlier run's files before the first worker looked, and no warning came."""
    dead_workers(tmp_path, 2)
    started = processes.process_started(os.getpid())
    assert started is not None
    for path in tmp_path.glob("*.db"):
        os.utime(path, (started - 10, started - 10))  # written before this "server" started
    scrape_count(str(tmp_path), 8)
    writers = _fold.read_manifest(str(tmp_path)).writers
    assert len(writers) == 2 and all(written < started for _, written in writers)
    [(level, warning)] = start_up_warnings(tmp_path)
    assert level == "WARNING"
    pids = ", ".join(str(writer) for writer, _ in sorted(writers))
    named = f"files of 2 processes that ended before this server started (an earlier run's: pids {pids})"
    assert named in warning
