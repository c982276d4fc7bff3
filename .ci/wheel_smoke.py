"""An installed wheel's smoke test: ``python wheel_smoke.py compiled|pure``.

Run from outside the checkout, in an environment holding only the wheel and its dependencies
(``make wheels``; cibuildwheel's test-command). It checks that the build is the one expected,
that ``gatewatch --version`` names it, and that one ASGI and one WSGI request are recorded.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import sys
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

import gatewatch
from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch._build import compiled

REQUESTS = 'gatewatch_http_request_duration_seconds_count{interface="%s",method="GET"'


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def _wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def _asgi_request(app: Any) -> None:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET"}
    scope.update({"scheme": "http", "path": "/", "raw_path": b"/", "root_path": "", "query_string": b""})
    scope.update({"headers": [], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(app(scope, receive, send))


def _wsgi_request(app: Any) -> None:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "", "QUERY_STRING": ""}
    environ.update({"SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1"})
    environ.update({"wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http"})
    environ.update({"wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False})
    body = app(environ, lambda status, headers, exc_info=None: None)
    assert b"".join(body) == b"hello"
    body.close()


def main(expected: str) -> None:
    assert expected in ("compiled", "pure"), expected
    assert compiled() == (expected == "compiled"), f"expected the {expected} build, {gatewatch.__file__}"
    command = shutil.which("gatewatch")
    assert command is not None
    version = subprocess.run([command, "--version"], capture_output=True, text=True, check=True).stdout
    assert ("compiled" in version) == (expected == "compiled"), version
    registry = CollectorRegistry()
    _asgi_request(GatewatchASGI(_asgi_app, registry=registry, loop_lag_interval=None))
    _wsgi_request(GatewatchWSGI(_wsgi_app, registry=registry))
    page = generate_latest(registry).decode()
    for interface in ("asgi", "wsgi"):
        assert REQUESTS % interface in page, page
    print(version.strip(), "- one ASGI and one WSGI request recorded")


if __name__ == "__main__":
    main(sys.argv[1])
