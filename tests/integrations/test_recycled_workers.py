"""Recycled workers (gunicorn ``--max-requests``, uvicorn ``--limit-max-requests``): their
files are folded, no count is lost.

A real server with two workers, each replaced after three requests (gunicorn's sync workers
serving the Flask example wrapped by gatewatch): every
scrape must count every request served so far, and the directory must hold the running
workers' files and one folded file per kind, not one set of files per worker ever started
(issue 28).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gatewatch._processes import process
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command
from gatewatch.export.prometheus import _fold
from tests.support.scrape import value
from tests.support.traffic import DURATION_COUNT, ROOT, gunicorn_config, scrape, scrape_until

pytestmark = pytest.mark.slow

REQUESTS = 60
ACCESS_LINE = re.compile(r"^<(\d+)> GET /fast 200$")


@dataclass(frozen=True)
class Recycling:
    """A server recycling its two workers every three requests, and the path to send."""

    command: Callable[[int, Path], list[str]]
    path: str


def gunicorn(port: int, tmp_path: Path) -> list[str]:
    return gunicorn_command(
        "examples.flask_app:wrapped",
        port,
        *("-w", "2", "--max-requests", "3", "-c", str(gunicorn_config(tmp_path))),
        *("--access-logfile", str(tmp_path / "access.log"), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s"),
    )


# uvicorn --workers 2 --limit-max-requests 3 would do too, but a worker leaving resets the
# connections it had accepted and not read yet: the client cannot tell whether those counted.
SERVERS = {"gunicorn": Recycling(gunicorn, "/fast")}


def served_by(tmp_path: Path, bodies: list[bytes]) -> set[int]:
    """The pids of the workers that served the requests: gunicorn's access log, or the
    bodies of an app's ``/pid``."""
    access_log = tmp_path / "access.log"
    if access_log.exists():
        return {int(m.group(1)) for m in map(ACCESS_LINE.match, access_log.read_text().splitlines()) if m}
    return {int(body) for body in bodies}


def dead_workers_files(directory: Path) -> set[int]:
    """Pids of dead workers whose files are not folded yet."""
    pids = set()
    for name in os.listdir(directory):
        found = _fold._PID_FILE.match(name)
        if found is not None and not process(int(found.group(2))).running:
            pids.add(int(found.group(2)))
    return pids


def counted(route: str, expected: int) -> Callable[[str], bool]:
    return lambda text: value(text, DURATION_COUNT, route=route) >= expected


@pytest.mark.parametrize("name", list(SERVERS))
def test_recycled_workers_files_are_folded_and_every_request_counted(tmp_path: Path, name: str) -> None:
    server_kind = SERVERS[name]
    route = server_kind.path
    directory = tmp_path / "prom"
    directory.mkdir(mode=0o700)
    port = free_port()
    command = server_kind.command(port, tmp_path)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    log = tmp_path / "server.log"
    bodies = []
    with ServerProcess(command, port=port, ready_path=route, env=env, cwd=ROOT, log_path=log) as server:
        with httpx.Client(base_url=server.base_url, timeout=20) as client:
            for sent in range(1, REQUESTS + 1):
                # A connection per request: a worker leaving closes its kept-alive ones.
                response = client.get(route, headers={"Connection": "close"})
                assert response.status_code == 200
                bodies.append(response.content)
                if sent % 20 == 0:
                    # The ready probe and the requests so far, whichever worker answers.
                    text = scrape_until(server.base_url, counted(route, sent + 1))
                    assert value(text, DURATION_COUNT, route=route) == sent + 1
        # Every scrape is a request too, and recycles workers: each one still counts all.
        for _ in range(6):
            assert value(scrape(server.base_url), DURATION_COUNT, route=route) == REQUESTS + 1
        assert len(served_by(tmp_path, bodies)) >= REQUESTS // 3
        manifest = _fold.read_manifest(str(directory))
        assert manifest.generation >= 1
        # Left unfolded: only workers that died after the last scrape's fold (the one that
        # served it may have been recycled since), never the twenty-odd before them.
        assert len(dead_workers_files(directory)) <= 2, sorted(os.listdir(directory))
        assert len([name for name in os.listdir(directory) if name.endswith(".db")]) <= 4 + 4 * 5
    assert "Traceback" not in log.read_text()
