"""Shared pieces of the real-server traffic tests: one request of a mix, and its expected labels."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gatewatch.demo.servers import gunicorn_command
from tests.support.checkout import ROOT as ROOT  # where the servers under test run from
from tests.support.scrape import samples

DURATION_COUNT = "gatewatch_http_request_duration_seconds_count"


def gunicorn_config(directory: Path, *, hooks: str = "*") -> Path:
    """A ``gunicorn.conf.py`` with gatewatch's hooks, as the README shows it (``hooks``: the
    names to import instead of all of them, e.g. to stay in single-process mode)."""
    config = directory / "gunicorn_conf.py"
    config.write_text(f"from gatewatch.integrations.gunicorn import {hooks}  # noqa: F401, F403\n")
    return config


def uvicorn_workers_command(app: str, port: int, directory: Path, *, workers: int = 2) -> list[str]:
    """gunicorn with uvicorn's worker class and the documented hooks: ASGI under ``-w N``."""
    return gunicorn_command(
        app,
        port,
        "-w",
        str(workers),
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-c",
        str(gunicorn_config(directory)),
    )


# (method, route, status) -> requests
Key = tuple[str, str, str]


@dataclass(frozen=True)
class Call:
    """One request of the mix, with what gatewatch must label it."""

    method: str
    path: str
    route: str
    status: int
    body: bytes = b""

    @property
    def key(self) -> Key:
        return (self.method, self.route, str(self.status))


def duration_counts(text: str, interface: str) -> dict[Key, int]:
    """Every ``..._duration_seconds_count`` series of ``interface`` as {(method, route, status): n}."""
    out: dict[Key, int] = {}
    for (name, labels), number in samples(text).items():
        found = dict(labels)
        if name == DURATION_COUNT and found.get("interface") == interface:
            out[(found["method"], found["route"], found["status"])] = int(number)
    return out


IN_FLIGHT = "gatewatch_http_requests_in_flight"


def in_flight_values(text: str) -> list[float]:
    return [number for (name, _), number in samples(text).items() if name == IN_FLIGHT]


def scrape(base_url: str, *, timeout: float = 10.0) -> str:
    # The standard library's client: the run without extras scrapes too.
    with urllib.request.urlopen(base_url + "/metrics", timeout=timeout) as response:
        assert response.status == 200
        text: str = response.read().decode("utf-8")
    return text


def scrape_until(base_url: str, done: Callable[[str], bool], timeout: float = 10.0) -> str:
    """Scrape until ``done(text)``, or time out. A server may still be finishing a request
    (a WSGI record ends only when the iterable is closed, after the client has the response)."""
    deadline = time.monotonic() + timeout
    text = scrape(base_url)
    while not done(text) and time.monotonic() < deadline:
        time.sleep(0.05)
        text = scrape(base_url)
    return text
