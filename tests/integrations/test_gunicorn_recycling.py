"""Recycled gunicorn workers (``--max-requests``): their files are folded, no count is lost.

A real gunicorn with two sync workers, each replaced after three requests, serves the Flask
example wrapped by gatewatch; every scrape must count every request served so far, and the
directory must hold the running workers' files and one folded file per kind, not one set of
files per worker ever started (issue 28).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gatewatch._processes import process
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command
from gatewatch.export.prometheus import _fold
from tests.support.scrape import value
from tests.support.traffic import DURATION_COUNT, ROOT, gunicorn_config, scrape, scrape_until

pytestmark = pytest.mark.slow

APP = "examples.flask_app:wrapped"
REQUESTS = 60
ACCESS_LINE = re.compile(r"^<(\d+)> GET /fast 200$")


def dead_workers_files(directory: Path) -> set[int]:
    """Pids of dead workers whose files are not folded yet."""
    pids = set()
    for name in os.listdir(directory):
        found = _fold._PID_FILE.match(name)
        if found is not None and not process(int(found.group(2))).running:
            pids.add(int(found.group(2)))
    return pids


def counted(expected: int) -> Callable[[str], bool]:
    return lambda text: value(text, DURATION_COUNT, route="/fast") >= expected


def test_recycled_workers_files_are_folded_and_every_request_counted(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir(mode=0o700)
    access_log = tmp_path / "access.log"
    port = free_port()
    command = gunicorn_command(
        APP,
        port,
        "-w",
        "2",
        "--max-requests",
        "3",
        "-c",
        str(gunicorn_config(tmp_path)),
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        "%(p)s %(m)s %(U)s %(s)s",
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    log = tmp_path / "gunicorn.log"
    with ServerProcess(command, port=port, ready_path="/fast", env=env, cwd=ROOT, log_path=log) as server:
        with httpx.Client(base_url=server.base_url, timeout=20) as client:
            for sent in range(1, REQUESTS + 1):
                assert client.get("/fast").status_code == 200
                if sent % 20 == 0:
                    # The ready probe and the requests so far, whichever worker answers.
                    expected = sent + 1
                    text = scrape_until(server.base_url, counted(expected))
                    assert value(text, DURATION_COUNT, route="/fast") == expected
        # Every scrape is a request too, and recycles workers: each one still counts all.
        for _ in range(6):
            assert value(scrape(server.base_url), DURATION_COUNT, route="/fast") == REQUESTS + 1
        served = {int(m.group(1)) for m in map(ACCESS_LINE.match, access_log.read_text().splitlines()) if m}
        assert len(served) >= REQUESTS // 3
        manifest = _fold.read_manifest(str(directory))
        assert manifest.generation >= 1
        # Left unfolded: only workers that died after the last scrape's fold (the one that
        # served it may have been recycled since), never the twenty-odd before them.
        assert len(dead_workers_files(directory)) <= 2, sorted(os.listdir(directory))
        assert len([name for name in os.listdir(directory) if name.endswith(".db")]) <= 4 + 4 * 5
    assert "Traceback" not in log.read_text()
