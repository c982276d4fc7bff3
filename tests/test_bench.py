"""The bench's code works: its tables print, its apps answer, its command lines start.

Only cheap checks run here. The measurements themselves (the server-level run under wrk and the
instruction counts under valgrind, including the check that callgrind counts one run the same
twice) are ``make bench``'s: a timing run on a loaded machine proves nothing, and valgrind's
fifty-fold slowdown cost minutes of the default run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

# The contenders come from the bench extra (without it, tests/conftest.py skips this module).
import starlette_exporter  # noqa: F401

from bench import instructions, scrape, scrape_apps, scrape_server, server_apps, server_bench
from bench.apps import HELLO
from bench.cases import ASGI_NAMES, WSGI_NAMES, asgi_case, wsgi_case
from bench.django_cases import DJANGO_WSGI_NAMES
from gatewatch.demo.servers import free_port
from tests.support.checkout import ROOT

# Not under coverage (make test measures the processes the tests start): the bench is timing
# work, and coverage's tracing would triple it for no line the rest of the suite misses.
_ENV = {name: v for name, v in os.environ.items() if name != "COVERAGE_PROCESS_CONFIG"}
_ENV["PYTHONIOENCODING"] = "utf-8"
_WSGI = "WSGI gatewatch"


def _rows(section: str) -> list[str]:
    """The table rows of one section: the lines after its dashed rule."""
    lines = [line.strip() for line in section.splitlines() if line.strip()]
    rule = next(index for index, line in enumerate(lines) if line.startswith("----"))
    return lines[rule + 1 :]


# About 7 s of CPU; on a machine loaded well past its two cores it got a tenth of one.
@pytest.mark.timeout(600)
def test_bench_quick_prints_every_row() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-server"],
        cwd=ROOT,
        env=_ENV,
        capture_output=True,
        encoding="utf-8",
        timeout=580,
    )
    print(completed.stdout, completed.stderr)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    # Every section, in this order; each ends where the next begins.
    starts = [
        out.index(heading)
        for heading in (
            "\nASGI:",
            "\nWSGI:",
            "\noverhead =",
            "\nDjango under WSGI:",
            "\nDjango: overhead =",
            "\nWebSocket:",
        )
    ]
    assert starts == sorted(starts)
    asgi, wsgi, _, django, _ = (out[start:end] for start, end in itertools.pairwise(starts))
    assert "vs django-prometheus" in django
    for section, names in ((asgi, ASGI_NAMES), (wsgi, WSGI_NAMES), (django, DJANGO_WSGI_NAMES)):
        rows = _rows(section)
        assert len(rows) == len(names), rows
        for row, name in zip(rows, names, strict=True):
            assert row.startswith(name), (row, name)
            numbers = row[len(name) :].split()
            # µs/request, overhead, vs floor (or vs django-prometheus), spread, batch
            assert len(numbers) == 5, row
            assert float(numbers[0]) > 0, row
    websocket = out[starts[-1] :]
    for mode in ("inline", "loop"):
        assert f"{mode}: gatewatch" in websocket and f"{mode}: bare" in websocket


@pytest.mark.parametrize(
    ("interface", "attribute"),
    [("asgi", attribute) for attribute in server_apps.ASGI_CONTENDERS.values()]
    + [("wsgi", attribute) for attribute in server_apps.WSGI_CONTENDERS.values()],
)
def test_every_server_contender_answers_hello(interface: str, attribute: str) -> None:
    """What the server-level run serves: each contender's app answers the bare app's response
    untouched (called in process; ``make bench`` serves them under uvicorn and gunicorn)."""
    _check(interface, attribute, getattr(server_apps, attribute))


def _check(interface: str, name: str, app: Any) -> None:
    """One request through ``app`` in process, as the bench's cases serve it: 200 and the body."""
    if interface == "asgi":
        loop = asyncio.new_event_loop()
        try:
            asgi_case(name, app, loop).check()
        finally:
            loop.close()
    else:
        wsgi_case(name, app).check()


@pytest.mark.parametrize("interface", ["asgi", "wsgi"])
def test_server_bench_command_serves(interface: str) -> None:
    """The server-level run's command line (uvicorn with uvloop and httptools; gunicorn's sync
    worker) starts a server that answers, unpinned (pinning is the bench's own business)."""
    attribute = "asgi_gatewatch" if interface == "asgi" else "wsgi_gatewatch"
    pins = server_bench.Pinning((), (), "unpinned")
    with (
        server_bench.server_process(interface, attribute, free_port(), pins) as server,
        urllib.request.urlopen(server.base_url + "/", timeout=30) as response,
    ):
        assert (response.status, response.read()) == (200, HELLO)


@pytest.mark.parametrize("name", list(instructions.CONTENDERS))
def test_every_instruction_contender_serves(name: str) -> None:
    """Each app the instruction count serves is built from its spec and serves requests."""
    interface, spec = instructions.CONTENDERS[name]
    _check(interface, name, instructions._app(interface, spec))


def test_instruction_child_runs_without_valgrind() -> None:
    """The command valgrind runs (``python -m bench.instructions --child``) serves its requests
    and exits cleanly; what valgrind counts of it is ``make bench``'s."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--child", *instructions.CONTENDERS[_WSGI], "20"],
        cwd=ROOT,
        env={**_ENV, "PYTHONHASHSEED": "0"},
        capture_output=True,
        encoding="utf-8",
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr


def test_scrape_part_counts_every_peer() -> None:
    """The scrape part at 3 routes, one scrape: every peer's /metrics answers, its series are
    parsed and counted (every route alike), gzip and OpenMetrics where the peer serves them;
    then gatewatch under uvicorn answers the probe with and without scrapes."""
    unpinned = server_bench.Pinning((), (), "unpinned")
    renders = scrape.renders(scrape.Scale(routes=(3,), scrapes=1), unpinned)
    assert [render.peer for render in renders] == list(scrape_apps.RENDER_PEERS)
    for render in renders:
        # Every route has its series, and as many as every other route.
        assert render.route_series > 0 and render.route_series % 3 == 0, render
        # The process and GC collectors of the global registry come along.
        assert render.series > render.route_series, render
        assert render.plain_bytes > 0 and render.cpu > 0, render
        if scrape_apps.GZIP[render.peer]:
            assert render.gzip_bytes is not None and 0 < render.gzip_bytes < render.plain_bytes, render
        else:
            assert render.gzip_bytes is None, render
        if scrape_apps.OPENMETRICS[render.peer] is None:
            assert render.openmetrics_series is None, render
        else:
            assert render.openmetrics_series is not None and render.openmetrics_series >= render.series
    rows = scrape.render_table(renders, markdown=True)
    assert len(rows) == 2 + len(renders) and all(row.count("|") == 14 for row in rows), rows
    # gatewatch against prometheus-client's exposition of the same families, in all three formats.
    (ratios,) = [line for line in scrape.same_families(renders) if line.startswith("- 3 routes:")]
    assert all(f"{name} " in ratios for name in ("text", "gzip", "OpenMetrics")), ratios

    hold = scrape_server.loop_hold(
        scrape_apps.GATEWATCH, 3, unpinned, bare_seconds=0.1, scrapes=1, min_seconds=0
    )
    assert hold.bare.latencies and hold.scraping.latencies and len(hold.scrapes) >= 1, hold
    assert hold.scrape_bytes > 0, hold


def test_scrape_update_docs_replaces_the_recorded_run(tmp_path: Path) -> None:
    """``python -m bench.scrape --update-docs`` rewrites what lies between the markers of
    docs/benchmarks.md, and nothing else."""
    docs = tmp_path / "benchmarks.md"
    original = scrape.DOCS.read_text(encoding="utf-8")
    docs.write_text(original, encoding="utf-8")
    for run in ("| first |", "| second |"):
        scrape.update_docs(["Scrapes: a run", "", run], docs)
    text = docs.read_text(encoding="utf-8")
    before, _, rest = original.partition(scrape.DOCS_BEGIN)
    _, _, after = rest.partition(scrape.DOCS_END)
    assert text == f"{before}{scrape.DOCS_BEGIN}\nScrapes: a run\n\n| second |\n{scrape.DOCS_END}{after}"
