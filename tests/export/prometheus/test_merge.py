"""gatewatch's merge of the workers' files (:mod:`gatewatch.export.prometheus._merge`) says exactly
what prometheus-client's merge says, over files written by real worker processes: gatewatch's
series (dead workers' in-flight gauges retired at 0, liveall gauges with a pid label, the info
gauge's max), a user's metrics of every kind and gauge mode, histogram buckets that differ
between workers, before, during and after the dead workers' files are folded; in the text
format and OpenMetrics, filtered by ``name[]``; and a steady-state scrape parses no key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from gatewatch import _processes as processes
from gatewatch.export.prometheus import _merge, _merge_scrape
from gatewatch.export.prometheus._merge_scrape import client_accumulate
from gatewatch.export.prometheus._scrape import Families, Scrape, render_all
from gatewatch.export.prometheus._worker_files import WorkerFilesCollector
from tests.support.dying_workers import unfolded
from tests.support.traffic import ROOT

NO_PROC = processes.process_started(os.getpid()) is None
pytestmark = pytest.mark.skipif(NO_PROC, reason="no /proc to tell dead workers")

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def harness(*args: object) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.merge_workers", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def live(tmp_path: Path) -> Iterator[int]:
    """A running worker's files beside the dead ones'; its pid."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.support.merge_workers", "live", tmp_path],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        yield worker.pid
    finally:
        worker.communicate(timeout=60)


def parsed(body: bytes, accept: str) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str]]]:
    """The samples and the families (name, type, help) of an exposition."""
    families = list((parse_openmetrics if accept else parse_text)(body.decode()))
    found = sorted(
        (s.name, tuple(sorted(s.labels.items())), s.value) for family in families for s in family.samples
    )
    return found, sorted((f.name, f.type, f.documentation) for f in families)


def client_scrape(directory: Path, accept: str) -> bytes:
    """prometheus-client's merge and exposition (without folding)."""
    registry = CollectorRegistry()
    WorkerFilesCollector(registry, str(directory), fold_batch=0)
    encoder, _ = choose_encoder(accept)
    return encoder(registry)


class Scraper:
    """gatewatch's scrape of one directory, kept across scrapes as a server keeps it."""

    def __init__(self, directory: Path, fold_batch: int = 0) -> None:
        self.registry = CollectorRegistry(support_collectors_without_names=True)
        self.collector = WorkerFilesCollector(self.registry, str(directory), fold_batch=fold_batch)
        self.families = Families()

    def scrape(self, accept: str = "", query: str = "") -> bytes:
        scrape = Scrape(self.registry, self.families, accept=accept, accept_encoding="", query=query)
        return render_all(scrape)


def same(directory: Path, scraper: Scraper) -> list[tuple[Any, ...]]:
    """Both merges' samples, checked equal in both formats; the text format's."""
    found = []
    for accept in ("", OPENMETRICS):
        expected = parsed(client_scrape(directory, accept), accept)
        assert parsed(scraper.scrape(accept), accept) == expected
        found.append(expected[0])
    return found[0]


def labelled(found: list[tuple[Any, ...]], name: str) -> list[dict[str, str]]:
    return [dict(labels) for sample, labels, _ in found if sample == name]


def test_the_merge_says_what_prometheus_clients_says(tmp_path: Path, live: int) -> None:
    harness("workers", tmp_path, 5)
    scraper = Scraper(tmp_path)
    found = same(tmp_path, scraper)
    # What the files hold: a pid label per running worker, dead workers' in-flight at 0, the
    # info gauge, a user's gauges of every mode and both bucket settings.
    assert [labels["pid"] for labels in labelled(found, "gatewatch_wsgi_workers_capacity")] == [str(live)]
    held = {"interface": "wsgi", "method": "GET"}
    assert (
        "gatewatch_http_requests_in_flight",
        tuple(sorted(held.items())),
        1.0,
    ) in found
    assert labelled(found, "gatewatch_info")
    assert len(labelled(found, "user_all")) == 6 and len(labelled(found, "user_liveall")) == 1
    assert {labels["le"] for labels in labelled(found, "user_ragged_bucket")} == {
        "0.5",
        "1.0",
        "2.0",
        "3.0",
        "+Inf",
    }
    assert len(labelled(found, "user_ragged_by_bucket")) == 3 + 4
    assert labelled(found, "user_size_count") and labelled(found, "user_mostrecent")

    # The dead workers' files folded, three a scrape: the same samples at every step.
    scraper.collector.fold_batch = 3
    steps = 0
    while unfolded(str(tmp_path)):
        scraper.scrape()
        same(tmp_path, scraper)
        steps += 1
    assert steps > 3
    assert any("folded" in path.name for path in tmp_path.glob("*.db"))


def test_a_steady_scrape_parses_no_key(tmp_path: Path, live: int, monkeypatch: pytest.MonkeyPatch) -> None:
    harness("workers", tmp_path, 3)
    scraper = Scraper(tmp_path)
    first = scraper.scrape()
    loads: list[str] = []

    def counted(text: str) -> Any:
        loads.append(text)
        return json.loads(text)

    monkeypatch.setattr(_merge, "json", type("counted_json", (), {"loads": staticmethod(counted)}))
    assert scraper.scrape() == first
    assert loads == []


def test_a_name_filter_keeps_those_samples(tmp_path: Path, live: int) -> None:
    harness("workers", tmp_path, 2)
    counters = {"gatewatch_http_response_body_bytes_total", "user_jobs_total"}
    # OpenMetrics' parser refuses a histogram without its buckets: parts of one in the text.
    parts = {"gatewatch_http_request_duration_seconds_count", "user_size_count", "user_latency_bucket"}
    for accept, wanted in (("", counters | parts), (OPENMETRICS, counters)):
        query = "&".join(f"name[]={name}" for name in sorted(wanted))
        everything, _ = parsed(client_scrape(tmp_path, accept), accept)
        found, _ = parsed(Scraper(tmp_path).scrape(accept, query), accept)
        assert found == [sample for sample in everything if sample[0] in wanted]
        assert {sample[0] for sample in found} == wanted


def test_a_metric_whose_files_disagree_is_left_to_prometheus_client(tmp_path: Path, live: int) -> None:
    harness("workers", tmp_path, 3, "flip")
    scraper = Scraper(tmp_path)
    # The first scrape meets the disagreement: prometheus-client merges it all; the next ones
    # merge the rest themselves and leave that metric to prometheus-client.
    for _ in range(2):
        found = same(tmp_path, scraper)
        assert labelled(found, "user_flip")
    assert scraper.collector._pool.generic_names == {"user_flip"}


def test_prometheus_clients_accumulation_is_used_when_it_is_there(
    tmp_path: Path, live: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one private API used (isolated in client_accumulate), and the merge without it."""
    harness("workers", tmp_path, 2)
    assert callable(getattr(MultiProcessCollector, _merge_scrape._ACCUMULATE, None))
    expected = parsed(client_scrape(tmp_path, ""), "")
    assert parsed(Scraper(tmp_path).scrape(), "") == expected
    monkeypatch.setattr(_merge_scrape, "_ACCUMULATE", "_not_in_this_version")
    assert parsed(Scraper(tmp_path).scrape(), "") == expected
    assert client_accumulate({}, []) == []


def test_a_dead_writers_pid_series_are_forgotten(tmp_path: Path, live: int) -> None:
    other = subprocess.Popen(
        [sys.executable, "-m", "tests.support.merge_workers", "live", tmp_path, "plain"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdout.readline() == "ready\n"
    scraper = Scraper(tmp_path)
    busy = "gatewatch_wsgi_workers_busy"
    pids = {labels["pid"] for labels in labelled(same(tmp_path, scraper), busy)}
    assert pids == {str(live), str(other.pid)}
    other.communicate(timeout=60)
    found = same(tmp_path, scraper)
    assert {labels["pid"] for labels in labelled(found, busy)} == {str(live)}
    (merger,) = scraper.collector._pool._idle
    kept = {key.rpartition("\0")[2] for key in merger._keys[_merge.SET] if busy in key}
    assert kept == {str(live)}


def folded_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folded files the scrapes read from now on (file names)."""
    reads: list[str] = []
    read = _merge.read_values

    def counted(path: str) -> Iterator[_merge.Entry]:
        reads.append(os.path.basename(path))
        return read(path)

    monkeypatch.setattr(_merge_scrape, "read_values", counted)
    return reads


def test_folded_totals_are_kept_until_a_fold_writes_a_new_generation(
    tmp_path: Path, live: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One dead worker: its histograms' bounds are not the live worker's (bounds met after the
    # copy of the folded totals was taken).
    harness("workers", tmp_path, 1)
    scraper = Scraper(tmp_path, fold_batch=2048)
    reads = folded_reads(monkeypatch)
    first = same(tmp_path, scraper)
    assert reads and all("_folded-1" in name for name in reads)
    # Steady: the folded files' totals come from the merger's copy, but a summary's (left to
    # prometheus-client's merge), read at every scrape.
    reads.clear()
    assert same(tmp_path, scraper) == first
    assert reads == ["summary_folded-1.db"] * 2
    # A fold between two scrapes: the new generation's counts, never the copy's.
    harness("workers", tmp_path, 2)
    reads.clear()
    second = same(tmp_path, scraper)
    assert second != first
    assert any(name.startswith("counter_folded-2") for name in reads)
    assert not unfolded(str(tmp_path))
    reads.clear()
    assert same(tmp_path, scraper) == second
    assert reads == ["summary_folded-2.db"] * 2


def test_a_directory_folded_anew_is_read_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same generation's names over other files (a directory emptied and folded again)."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    harness("workers", directory, 3)
    scraper = Scraper(directory, fold_batch=2048)
    first = same(directory, scraper)
    assert same(directory, scraper) == first
    for path in directory.iterdir():
        path.unlink()
    # Two workers: both bucket settings again, other counts.
    harness("workers", directory, 2)
    reads = folded_reads(monkeypatch)
    second = same(directory, scraper)
    assert second != first
    assert "counter_folded-1.db" in reads
