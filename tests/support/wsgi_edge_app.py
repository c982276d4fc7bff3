"""PEP 3333 edge cases, served bare and wrapped side by side by one server process.

``/bare/<case>`` runs the case as it is, ``/wrapped/<case>`` through ``GatewatchWSGI`` (which
names the route ``/<case>``), ``/spans/<case>`` through another one with OpenTelemetry spans and
metrics on (in-memory providers), ``/flask/...`` is a Flask app wrapped the README's way, and
``/metrics`` is the wrapped side's registry. The dispatcher only passes the call through,
so both sides get the very same server.
"""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper

from flask import Blueprint, Flask, request
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchWSGI, set_route
from gatewatch.types import Environ, StartResponse, WSGIApp
from tests.support.otel import in_memory

# A real file on disk for wsgi.file_wrapper: this module's own source.
PAYLOAD = Path(__file__)
# A close() that waits for its release (a file the test creates) waits at most this long.
RELEASE_LIMIT = 60.0


def text() -> list[tuple[str, str]]:
    # A new list each time: wsgiref adds its Content-Length to the very list it is given.
    return [("Content-Type", "text/plain")]


class Body:
    """A response iterable with a close() that may raise or take its time (clean-up)."""

    def __init__(
        self, chunks: list[bytes], *, close_raises: bool = False, released_by: Path | None = None
    ) -> None:
        self.chunks = chunks
        self.close_raises = close_raises
        self.released_by = released_by

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        # Cleans up until the test says so rather than for a fixed time, which a loaded machine
        # could overrun before the test has looked.
        if self.released_by is not None:
            deadline = time.monotonic() + RELEASE_LIMIT
            while not self.released_by.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        if self.close_raises:
            raise RuntimeError("close failed")


def one(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())
    return [b"one element"]


def many(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())
    return [b"several ", b"list ", b"elements"]


def generator(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())

    def chunks() -> Iterator[bytes]:
        yield b"from "
        yield b"a generator"

    return chunks()


def late(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    # A generator function: start_response runs at the server's first next().
    start_response("200 OK", text())
    yield b"late start_response"


def write(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    send = start_response("200 OK", text())
    send(b"written, then ")
    return [b"returned"]


def exc_info_early(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())
    try:
        raise ValueError("failed before the body")
    except ValueError:
        # Nothing sent yet: the server replaces the status and headers.
        start_response("500 Internal Server Error", text(), sys.exc_info())
    return [b"error page"]


def exc_info_late(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", text())
    yield b"part of the body, "
    try:
        raise ValueError("failed in the body")
    except ValueError:
        # Headers are out: PEP 3333 has the server re-raise the exception from here.
        start_response("500 Internal Server Error", text(), sys.exc_info())
    yield b"never sent"


def file(environ: Environ, start_response: StartResponse) -> Any:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    wrapper = environ.get("wsgi.file_wrapper", FileWrapper)
    return wrapper(PAYLOAD.open("rb"), 8192)


def close_raises(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())
    return Body([b"body, then close() raises"], close_raises=True)


def slow_close(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())
    (release,) = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))["release"]
    return Body([b"body, then close() cleans up"], released_by=Path(release))


def empty(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())
    return []


def empty_chunk(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())
    return [b""]


def raise_after_start(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())
    raise RuntimeError("after start_response, before returning the body")


def raise_in_first_next(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())

    def chunks() -> Iterator[bytes]:
        raise RuntimeError("at the first next() of the body")
        yield b"never"  # a generator all the same

    return chunks()


def raise_after_empty_chunk(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", text())

    def chunks() -> Iterator[bytes]:
        yield b""  # no body byte yet: PEP 3333 servers must still hold the headers back
        raise RuntimeError("after an empty chunk")

    return chunks()


CASES: dict[str, WSGIApp] = {
    case.__name__: case
    for case in (
        one,
        many,
        generator,
        late,
        write,
        exc_info_early,
        exc_info_late,
        file,
        close_raises,
        slow_close,
        empty,
        empty_chunk,
        raise_after_start,
        raise_in_first_next,
        raise_after_empty_chunk,
    )
}


def cases(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    name = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    case = CASES.get(name)
    if case is None:
        start_response("404 Not Found", text())
        return [b"no such case"]
    set_route(f"/{name}")
    return case(environ, start_response)


REGISTRY = CollectorRegistry()
# Every histogram per route (after-response time by route: tests/wsgi/test_wsgi_servers.py).
WRAPPED = GatewatchWSGI(cases, registry=REGISTRY, metrics_path="/metrics", series="full")

# Spans on: what the server does must not change either (issue 26).
SPANS = GatewatchWSGI(
    cases, registry=CollectorRegistry(), metrics_path=None, live_path=None, **in_memory().options
)

flask_app = Flask(__name__)


@flask_app.post("/flask/upload")
def upload() -> str:
    return str(len(request.get_data()))


# Blueprints with a parameter in their url_prefix, one nested in the other.
tenants = Blueprint("tenants", __name__, url_prefix="/flask/t/<tenant>")
deeper = Blueprint("deeper", __name__, url_prefix="/d/<d>")


@tenants.get("/items")
def tenant_items(tenant: str) -> str:
    return "items"


@deeper.get("/x")
def deeper_x(tenant: str, d: str) -> str:
    return "x"


tenants.register_blueprint(deeper)
flask_app.register_blueprint(tenants)
flask_app.wsgi_app = GatewatchWSGI(flask_app.wsgi_app, registry=REGISTRY, series="full")  # type: ignore[method-assign]


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path: str = environ.get("PATH_INFO", "")
    if path.startswith("/flask/"):
        return flask_app(environ, start_response)
    if path.startswith("/bare/"):
        return cases(environ, start_response)
    if path.startswith("/spans/"):
        return SPANS(environ, start_response)
    return WRAPPED(environ, start_response)
