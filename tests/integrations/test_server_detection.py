"""Labels and values read from the running server (issue 26 item 8): ``gatewatch_info``'s server
under granian (WSGI and ASGI) and hypercorn serving a module that imports uvicorn, the worker
capacity under gunicorn (sync and UvicornWorker) before any request, and an HTTP scope
without ``path`` served as the bare app serves it.

Before: ``server="wsgiref"`` for Flask under granian (prometheus-client imports wsgiref),
``server="uvicorn"`` for any module that imported uvicorn, ``gatewatch_wsgi_workers_capacity``
0 under UvicornWorker and 0 in each worker until its first request, and a ``KeyError``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from gatewatch.demo.servers import (
    ServerProcess,
    free_port,
    granian_command,
    gunicorn_command,
    hypercorn_command,
)
from gatewatch.export.prometheus.scrape_summary import matching, parse
from gatewatch.integrations._serving_server import wsgi_server
from gatewatch.types import Receive, Scope, Send
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.scrape import value
from tests.support.traffic import DURATION_COUNT, gunicorn_config, uvicorn_workers_command

ROOT = Path(__file__).resolve().parents[2]
FLASK = "examples.flask_app:wrapped"
STARLETTE = "examples.starlette_app:wrapped"
IMPORTS_UVICORN = "tests.support.imports_uvicorn_app:wrapped"
CAPACITY = "gatewatch_wsgi_workers_capacity"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No multiprocess or live directory from the test's own environment."""
    for name in (
        "PROMETHEUS_MULTIPROC_DIR",
        "prometheus_multiproc_dir",
        "GATEWATCH_LIVE_DIR",
        "WEB_CONCURRENCY",
    ):
        monkeypatch.delenv(name, raising=False)


def info_servers(text: str, interface: str) -> list[str]:
    return [s.labels["server"] for s in matching(parse(text), "gatewatch_info", interface=interface)]


# -- the server label ------------------------------------------------------------------------

SERVED = {
    # prometheus-client imports wsgiref: the import-based guess said wsgiref.
    "granian-wsgi-flask": ("granian", "wsgi", FLASK, "/fast"),
    "granian-asgi-starlette": ("granian", "asgi", STARLETTE, "/fast"),
    # The app module imports uvicorn: the import-based guess said uvicorn.
    "granian-asgi-imports-uvicorn": ("granian", "asgi", IMPORTS_UVICORN, "/hello"),
    "hypercorn-imports-uvicorn": ("hypercorn", "asgi", IMPORTS_UVICORN, "/hello"),
}


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("case", list(SERVED))
def test_server_label_names_the_server_serving(tmp_path: Path, case: str) -> None:
    server_name, interface, app, path = SERVED[case]
    port = free_port()
    if server_name == "granian":
        command = granian_command(app, port, "--workers", "1", interface=interface)
    else:
        command = hypercorn_command(app, port)
    with (
        ServerProcess(
            command, port=port, ready_path="/metrics", cwd=ROOT, log_path=tmp_path / "server.log"
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0) as client,
    ):
        assert client.get(path).status_code == 200
        text = client.get("/metrics").text
    assert info_servers(text, interface) == [server_name]
    assert value(text, DURATION_COUNT, interface=interface) == 1


# -- the worker capacity under gunicorn ------------------------------------------------------


def capacities(text: str) -> list[float]:
    """Every worker's ``gatewatch_wsgi_workers_capacity`` (one series per live pid)."""
    return [s.value for s in matching(parse(text), CAPACITY)]


@pytest.fixture
def gunicorn_sync(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    command = gunicorn_command(FLASK, port, "-w", "2", "-k", "sync", "-c", str(gunicorn_config(tmp_path)))
    with ServerProcess(
        command, port=port, ready_path="/metrics", cwd=ROOT, log_path=tmp_path / "gunicorn.log"
    ) as server:
        yield server


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
def test_sync_workers_capacity_is_known_before_any_request(gunicorn_sync: ServerProcess) -> None:
    """gunicorn's post_worker_init tells each worker's middleware at once: 1 per sync worker,
    with no request served (/metrics is gatewatch's own page, never counted)."""
    deadline = time.monotonic() + 20
    with httpx.Client(base_url=gunicorn_sync.base_url, timeout=10.0) as client:
        while True:
            text = client.get("/metrics").text
            if capacities(text) == [1.0, 1.0] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert capacities(text) == [1.0, 1.0], text
    assert value(text, DURATION_COUNT) == 0


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
def test_uvicorn_worker_exports_no_wsgi_capacity(tmp_path: Path) -> None:
    """An ASGI worker has no WSGI worker threads: the family is absent, not a 0 that reads as
    a worker that can serve nothing (busy >= capacity alerts fired on it)."""
    port = free_port()
    command = uvicorn_workers_command(STARLETTE, port, tmp_path)
    with (
        ServerProcess(
            command, port=port, ready_path="/metrics", cwd=ROOT, log_path=tmp_path / "gunicorn.log"
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=10.0) as client,
    ):
        for _ in range(4):
            assert client.get("/fast", headers={"Connection": "close"}).status_code == 200
        text = client.get("/metrics").text
    assert value(text, DURATION_COUNT, interface="asgi") == 4
    assert capacities(text) == []
    assert set(info_servers(text, "asgi")) == {"uvicorn"}


# -- a scope without path --------------------------------------------------------------------


async def pathless_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that serves whatever HTTP scope it gets, path or not."""
    await receive()
    body = f"{scope.get('method', '?')} {scope.get('path', '<no path>')}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.anyio
@pytest.mark.parametrize("missing", [("path",), ("path", "method"), ("path", "raw_path", "root_path")])
async def test_scope_without_path_is_served_as_bare(
    registry: CollectorRegistry, missing: tuple[str, ...]
) -> None:
    def scope() -> Scope:
        s = http_scope("/ignored")
        for key in missing:
            s.pop(key, None)
        return s

    bare = await serve(pathless_app, scope(), Exchange())
    wrapped_app = GatewatchASGI(pathless_app, registry=registry)
    wrapped = await serve(wrapped_app, scope(), Exchange())
    assert wrapped.sent == bare.sent
    assert (wrapped.status, wrapped.body) == (
        200,
        b"GET <no path>" if "method" not in missing else b"? <no path>",
    )
    # Counted, under <unmatched>: no route names it.
    assert value(registry, DURATION_COUNT, route="<unmatched>", status="200") == 1
    assert value(registry, "gatewatch_internal_errors_total") == 0


# -- what each server says of itself ---------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SERVER_SOFTWARE": "gunicorn/23.0.0"}, "gunicorn"),
        ({"SERVER_SOFTWARE": "waitress"}, "waitress"),
        ({"SERVER_SOFTWARE": "Granian"}, "granian"),
        ({"SERVER_SOFTWARE": "WSGIServer/0.2 CPython/3.11.2"}, "wsgiref"),
        ({"SERVER_SOFTWARE": "Werkzeug/3.1.3"}, "werkzeug"),
        ({"mod_wsgi.version": (5, 0, 0)}, "mod_wsgi"),
        ({"uwsgi.version": b"2.0.28"}, "uwsgi"),
        # Nothing said, and no server's frame calls this test: pytest is no server.
        ({}, "unknown"),
    ],
)
def test_wsgi_server_from_what_the_server_says(environ: dict[str, object], expected: str) -> None:
    assert wsgi_server(environ) == expected
