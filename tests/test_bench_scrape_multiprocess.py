"""``bench.scrape_multiprocess`` runs, and its dead workers' files are folded (no timing checked)."""

from __future__ import annotations

import os

import pytest

from bench import scrape_multiprocess
from gatewatch import _processes as processes


@pytest.mark.skipif(processes.process_started(os.getpid()) is None, reason="no /proc to tell dead workers")
def test_the_multiprocess_scrape_bench_folds_and_prints_every_row() -> None:
    rows = scrape_multiprocess.run((0, 3), routes=2, repeats=1)
    assert [row["dead_workers"] for row in rows] == [0, 3]
    # The running worker's counter, histogram, info, in-flight and busy files; each dead one's
    # four (its busy gauge left out), folded into one per kind.
    assert [row["files_before"] for row in rows] == [5, 5 + 3 * 4]
    assert [row["files_after"] for row in rows] == [5, 5 + 4]
    assert rows[0]["after_vs_none"] == 1
    lines = scrape_multiprocess.format_rows(rows)
    assert len(lines) == 2 + len(rows)
    assert lines[3].split()[:3] == ["3", "17", f"{rows[1]['before_ms']:.1f}"]
