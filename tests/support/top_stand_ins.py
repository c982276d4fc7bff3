"""Real sources for the pages' ``gatewatch top`` commands: each URL, directory or Prometheus a
command names is served by a real one on 127.0.0.1 (a free port, a scratch directory) and the
command's words rewritten to it. Without them top exits with one error line, and that line
names the source too: the test could not tell that from a dashboard drawing it."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gatewatch.demo.servers import LOOPBACK, ServerProcess, free_port, uvicorn_command
from gatewatch.export.live.local_dir import SERVER_PREFIX, local_roots
from tests.support.checkout import ROOT
from tests.support.prometheus_server import PROMETHEUS, prometheus_process
from tests.support.readme_commands import Command, http_answer

APP = "examples.starlette_app:wrapped"
# The live_token of a command that gives none: the user's GATEWATCH_LIVE_TOKEN (documented).
DEFAULT_TOKEN = "s3cret-from-the-environment"


@dataclass
class StandIns:
    """The rewritten command, what its dashboard names (one a source) and its environment."""

    command: Command
    shown: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def uvicorn_source(app: str, directory: Path, name: str, **env: str) -> ServerProcess:
    """``app`` under uvicorn on a free port, ready once ``/metrics`` answers, logging to
    ``name``-PORT.log in ``directory``; deployed as a user would: this run's live directory,
    multiprocess directory and live token only where ``env`` gives them. Not started."""
    port = free_port()
    server = ServerProcess(
        uvicorn_command(app, port),
        port=port,
        ready_path="/metrics",
        cwd=ROOT,
        env=env,
        log_path=directory / f"{name}-{port}.log",
    )
    for variable in (
        "GATEWATCH_LIVE_DIR",
        "PROMETHEUS_MULTIPROC_DIR",
        "prometheus_multiproc_dir",
        "GATEWATCH_LIVE_TOKEN",
    ):
        if variable not in env:
            server.env.pop(variable, None)
    return server


def _gatewatch(stack: ExitStack, scratch: Path, token: str, **env: str) -> ServerProcess:
    # Served by this environment's uvicorn: make test-minimal's has none (the demo extra).
    pytest.importorskip("uvicorn")
    server = uvicorn_source(APP, scratch, "top-source", GATEWATCH_LIVE_TOKEN=token, **env)
    stack.enter_context(server)
    return server


def _prometheus(stack: ExitStack, scratch: Path, target: ServerProcess) -> str:
    if not PROMETHEUS.exists():
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus)")
    from gatewatch_dashboard import probe

    port = free_port()
    data = scratch / f"prometheus-{port}"
    data.mkdir()
    config = data / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: gatewatch\n    static_configs:\n"
        f"      - targets: ['{LOOPBACK}:{target.port}']\n"
    )
    server = prometheus_process(config, data / "tsdb", port, directory=data)
    stack.enter_context(server)
    # Until its first scrape it holds no gatewatch series, and top says so in one line.
    checks = probe.checks_for([], [], [server.base_url])
    deadline = time.monotonic() + 60
    while probe.problems(checks, token=None) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert probe.problems(checks, token=None) == [], "Prometheus never scraped gatewatch"
    return server.base_url


@contextmanager
def top_sources(command: Command, scratch: Path) -> Iterator[StandIns]:
    """``command`` (a ``gatewatch top`` line) with each source it names served for real."""
    words = list(command.words)
    token = words[words.index("--token") + 1] if "--token" in words else DEFAULT_TOKEN
    stand_ins = StandIns(command, env={"GATEWATCH_LIVE_TOKEN": token})
    with ExitStack() as stack:
        rewritten: list[str] = []
        for index, word in enumerate(words):
            before = words[index - 1] if index else ""
            if before == "--dir":
                directory = Path(scratch / f"live-{len(rewritten)}")
                directory.mkdir(mode=0o700)
                server = _gatewatch(stack, scratch, token, GATEWATCH_LIVE_DIR=str(directory))
                assert http_answer(server.port, "/fast") is not None  # a server writes after a request
                deadline = time.monotonic() + 30
                while not any(directory.iterdir()) and time.monotonic() < deadline:
                    time.sleep(0.05)
                rewritten.append(str(directory))
            elif before == "--prometheus":
                url = _prometheus(stack, scratch, _gatewatch(stack, scratch, token))
                stand_ins.shown.append(urlsplit(url).netloc)
                rewritten.append(url)
            elif word.startswith(("http://", "https://")):
                server = _gatewatch(stack, scratch, token)
                parts = urlsplit(word)
                netloc = f"{LOOPBACK}:{server.port}"
                stand_ins.shown.append(netloc)
                rewritten.append(parts._replace(netloc=netloc).geturl())
            else:
                rewritten.append(word)
        sources = ("--dir", "--prometheus", "http://", "https://")
        if not any(word.startswith(sources) for word in words):
            # A bare ``gatewatch top`` reads this user's servers on this host: one stands in,
            # writing its live view where they do (the test run's own XDG_RUNTIME_DIR).
            server = _gatewatch(stack, scratch, token)
            assert http_answer(server.port, "/fast") is not None  # a server writes after a request
            written = Path(local_roots()[0]) / f"{SERVER_PREFIX}{server.pid}"
            deadline = time.monotonic() + 30
            while not (written.is_dir() and any(written.iterdir())) and time.monotonic() < deadline:
                time.sleep(0.05)
        stand_ins.command = Command(command.line, shlex.join(rewritten))
        yield stand_ins
