"""``gatewatch top``'s first check of its sources: a source that is no URL, not listening, not
gatewatch's or refusing the token is one line on stderr and exit 2 (documented: within 5 s),
before any UI; ``--wait`` opens the UI all the same and keeps asking.

Real servers on 127.0.0.1 (uvicorn serving gatewatch's example app and an app that is not
gatewatch's, a socket that never answers, a real Prometheus), ``python -m gatewatch top`` in a
child process, every one stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gatewatch_dashboard import probe

from gatewatch.demo.servers import LOOPBACK, free_port
from tests.support.live_support import TOKEN, TOKEN_ENV
from tests.support.prometheus_server import PROMETHEUS, prometheus_process
from tests.support.top_stand_ins import uvicorn_source
from tests.support.traffic import ROOT

# Documented: 5 s. A busy 2-core machine may start Python slowly: the test allows twice that.
BOUND = 10.0


def top(*args: str, timeout: float = 30) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m gatewatch top ARGS`` to its end, and how long it took."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "gatewatch", "top", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if k != "GATEWATCH_LIVE_TOKEN"},
    )
    print(completed.stdout[-2000:], completed.stderr, file=sys.stderr)
    return completed, time.monotonic() - started


def one_line(*args: str) -> str:
    """The one line ``gatewatch top ARGS`` fails with, checked to come within the bound and with
    no UI drawn."""
    (line,) = lines(*args, count=1)
    return line


def lines(*args: str, count: int) -> list[str]:
    """The lines ``gatewatch top ARGS`` fails with, one a bad source (``count``), checked as
    :func:`one_line`'s. Sources whose messages are checked alike are given to one run: each
    run starts Python and imports Textual, most of this module's time."""
    completed, took = top(*args)
    assert completed.returncode == 2, completed.stderr
    assert took < BOUND, took
    assert completed.stdout == ""
    said = completed.stderr.splitlines()
    assert len(said) == count and completed.stderr.endswith("\n"), completed.stderr
    assert all(line.startswith("gatewatch top: ") for line in said), completed.stderr
    return said


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """gatewatch's example app with a live_token, the same without one, and an app that is not
    gatewatch's: their base URLs."""
    tmp_path = tmp_path_factory.mktemp("servers")
    with (
        uvicorn_source("examples.starlette_app:wrapped", tmp_path, "token", **TOKEN_ENV) as gatewatch,
        uvicorn_source("examples.starlette_app:wrapped", tmp_path, "tokenless") as tokenless,
        uvicorn_source("tests.support.plain_app:app", tmp_path, "plain") as plain,
    ):
        yield {"gatewatch": gatewatch.base_url, "tokenless": tokenless.base_url, "plain": plain.base_url}


NO_URL = [
    ("notaurl", "not a URL: give one like http://127.0.0.1:8000"),
    ("127.0.0.1:8000", "not a URL: add http:// (http://127.0.0.1:8000)"),
    ("localhost:8000/metrics", "not a URL: add http:// (http://localhost:8000/metrics)"),
    ("ftp://127.0.0.1:8000", "not an http:// or https:// URL"),
    ("http://127.0.0.1:99999", "its port is not a number from 1 to 65535"),
    (str(ROOT), "is a directory, not a URL: pass it with --dir"),
]


@pytest.mark.parametrize(("given", "says"), NO_URL)
def test_what_is_no_url_is_one_line(given: str, says: str) -> None:
    assert one_line(given).startswith(f"gatewatch top: {given}: {says}")


def test_what_is_no_url_is_said_even_with_wait() -> None:
    said = lines(*(given for given, _ in NO_URL), "--wait", count=len(NO_URL))
    for line, (given, says) in zip(said, NO_URL, strict=True):
        assert line.startswith(f"gatewatch top: {given}: {says}"), line


def test_a_closed_port_is_one_line() -> None:
    port = free_port()  # bound and closed again: nothing listens there
    url = f"http://{LOOPBACK}:{port}"
    said = lines(url, url + "/metrics", "--prometheus", url, count=3)
    for line, given in zip(said[:2], (url, url + "/metrics"), strict=True):
        assert line == (
            f"gatewatch top: {given}: nothing listens there (connection refused): is the server running? "
            "(--wait keeps trying)"
        )
    assert "nothing listens there" in said[2]


def test_a_server_that_never_answers_is_one_line_within_the_bound() -> None:
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(8)  # connections are taken into the backlog; nothing ever answers
        url = f"http://{LOOPBACK}:{silent.getsockname()[1]}"
        completed, took = top(url, "--prometheus", url)
    assert completed.returncode == 2 and took < BOUND, (completed.returncode, took)
    silence = "no answer within 3 s: is it busy, or no HTTP server? (--wait keeps trying)"
    assert completed.stderr.splitlines() == [f"gatewatch top: {url}: {silence}"] * 2


def test_an_app_that_is_not_gatewatchs_is_one_line(servers: dict[str, str]) -> None:
    plain = servers["plain"]
    html, json, metrics, prometheus = lines(
        plain, plain + "/api/orders", plain + "/metrics", "--prometheus", plain, count=4
    )
    assert html == (
        f"gatewatch top: {plain}: answered text/html, not gatewatch's live view: is the app wrapped "
        "with gatewatch? (a URL ending in /metrics is scraped instead)"
    )
    assert json.startswith(
        f"gatewatch top: {plain}/api/orders: answered application/json, not gatewatch's live view (the "
        "document: missing key 'schema'"
    )
    assert metrics.startswith(
        f"gatewatch top: {plain}/metrics: a /metrics page without gatewatch's series: is this app wrapped"
    )
    assert prometheus == (
        f"gatewatch top: {plain}: answered HTTP 200, not as Prometheus's query API (/api/v1/query) would"
    )


def test_gatewatchs_live_view_without_the_token_is_one_line(servers: dict[str, str]) -> None:
    url = servers["gatewatch"]
    assert one_line(url) == (
        f"gatewatch top: {url}: answered 401 (unauthorized): pass the server's live_token with --token "
        "(or GATEWATCH_LIVE_TOKEN)"
    )
    assert "it refused the token sent: check --token" in one_line(url, "--token", "not-" + TOKEN)
    off, elsewhere = lines(servers["tokenless"], url + "/elsewhere", "--token", TOKEN, count=2)
    assert "answered 403: its live view over HTTP is off" in off
    assert "answered 404: no gatewatch live view at /elsewhere" in elsewhere


def test_gatewatchs_sources_pass_the_check(servers: dict[str, str], tmp_path: Path) -> None:
    """What the check lets through: the live view with its token, and /metrics pages (a fresh
    one too: the tokenless server has served no request)."""
    checks = probe.checks_for(
        [servers["gatewatch"], servers["gatewatch"] + "/metrics", servers["tokenless"] + "/metrics"], [], []
    )
    assert checks[0].where == servers["gatewatch"] + "/_gatewatch/live.json"
    assert probe.problems(checks, token=TOKEN) == []
    assert probe.problems([], token=None) == []  # gatewatch top with no source given: its own servers
    # Each against the check of another kind fails: the check reads what it is given.
    assert (
        len(probe.problems(probe.checks_for([servers["plain"]], [], [servers["gatewatch"]]), token=TOKEN))
        == 2
    )


def test_a_directory_without_a_live_process_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    assert lines("--dir", str(empty), "--dir", str(tmp_path / "missing"), count=2) == [
        f"gatewatch top: {empty}: no running process writes its live view there (a server does after a "
        "request; --wait keeps trying)",
        f"gatewatch top: {tmp_path / 'missing'}: No such file or directory",
    ]


def test_wait_opens_the_ui_on_a_source_that_does_not_answer() -> None:
    """With --wait the UI runs, says the source is not answering, and keeps asking."""
    url = f"http://{LOOPBACK}:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gatewatch", "top", url, "--wait", "--interval", "0.2"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"not answering" not in seen and process.poll() is None and time.monotonic() < deadline:
            seen += process.stdout.read() or b""
            time.sleep(0.1)
        assert b"not answering" in seen, seen[-2000:]
        assert process.poll() is None
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()


@pytest.mark.slow
@pytest.mark.skipif(
    not PROMETHEUS.exists(), reason="prometheus is not installed (Debian: apt-get install prometheus)"
)
def test_a_prometheus_without_gatewatchs_series_is_one_line_then_passes(
    servers: dict[str, str], tmp_path: Path
) -> None:
    """A real Prometheus: before it scrapes gatewatch, one line; once it has (its configuration
    reloaded, SIGHUP: one Prometheus started, not two), the check passes."""
    port = free_port()
    target = servers["gatewatch"].removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n")
    server = prometheus_process(config, tmp_path / "data", port, directory=tmp_path)
    with server:
        assert one_line("--prometheus", server.base_url) == (
            f"gatewatch top: {server.base_url}: Prometheus holds no gatewatch series now: does it scrape "
            "an app's /metrics (a target shows after its first scrape)? (--wait keeps trying)"
        )
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: gatewatch\n    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        os.kill(server.pid, signal.SIGHUP)
        checks = probe.checks_for([], [], [server.base_url])
        deadline = time.monotonic() + 30
        while probe.problems(checks, token=None) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert probe.problems(checks, token=None) == []
