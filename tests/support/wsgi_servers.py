"""Real WSGI servers for the tests, and a raw HTTP/1.1 client to compare their bytes.

Each server runs as a child process on 127.0.0.1 through :class:`ServerProcess`, so it is
bounded in time and stopped by PID. gunicorn has its command in
:mod:`gatewatch.demo.servers`; the others are started here:

- waitress through its own CLI (``python -m waitress``);
- wsgiref and Werkzeug's development server through this module run as a script:
  ``python -m tests.support.wsgi_servers wsgiref|werkzeug module:app PORT``.
"""

from __future__ import annotations

import importlib
import re
import socket
import sys
from collections.abc import Sequence

from gatewatch.demo.servers import LOOPBACK, gunicorn_command
from gatewatch.types import WSGIApp

SERVERS = ("waitress", "wsgiref", "werkzeug", "gunicorn-sync", "gunicorn-gthread")


def waitress_command(app: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "waitress", "--host", LOOPBACK, "--port", str(port), *extra, app]


def script_command(server: str, app: str, port: int) -> list[str]:
    """wsgiref or werkzeug, through this module's ``__main__``."""
    return [sys.executable, "-m", "tests.support.wsgi_servers", server, app, str(port)]


def server_command(server: str, app: str, port: int) -> list[str]:
    if server == "waitress":
        return waitress_command(app, port, "--threads", "4")
    if server in ("wsgiref", "werkzeug"):
        return script_command(server, app, port)
    if server == "gunicorn-sync":
        return gunicorn_command(app, port, "-k", "sync", "-w", "1")
    if server == "gunicorn-gthread":
        return gunicorn_command(app, port, "-k", "gthread", "-w", "1", "--threads", "4")
    raise ValueError(f"unknown server {server!r}")


def load_app(reference: str) -> WSGIApp:
    module, _, name = reference.partition(":")
    app: WSGIApp = getattr(importlib.import_module(module), name)
    return app


def serve(server: str, reference: str, port: int) -> None:
    app = load_app(reference)
    if server == "wsgiref":
        from wsgiref.simple_server import make_server

        with make_server(LOOPBACK, port, app) as httpd:
            httpd.serve_forever()
    elif server == "werkzeug":
        from werkzeug.serving import run_simple

        run_simple(LOOPBACK, port, app, threaded=True, use_reloader=False, use_debugger=False)
    else:
        raise ValueError(f"unknown server {server!r}")


# -- a raw HTTP/1.1 client ---------------------------------------------------------------

TIMED_OUT = b"<timed out>"


def request_bytes(method: str, path: str, *, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"{method} {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n{connection}\r\n".encode("latin-1")


def exchange(port: int, requests: Sequence[tuple[str, str]], *, timeout: float = 5.0) -> bytes:
    """Send the requests (method, path) pipelined on one connection, the last one with
    ``Connection: close``, and return every byte the server sent until it closed. The earlier
    requests see a kept-alive connection; no framing is interpreted, so a response with
    more (or fewer) bytes than its headers announce shows as it is. Ends with
    ``TIMED_OUT`` if the server neither answers nor closes."""
    last = len(requests) - 1
    payload = b"".join(
        request_bytes(method, path, close=index == last) for index, (method, path) in enumerate(requests)
    )
    received = bytearray()
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(payload)
        try:
            while data := sock.recv(65536):
                received += data
        except TimeoutError:
            received += TIMED_OUT
        except ConnectionResetError:
            received += b"<reset>"
    return bytes(received)


_DATE = re.compile(rb"\r\nDate: [^\r\n]*", re.IGNORECASE)


def normalise(raw: bytes) -> bytes:
    """The only header that legitimately differs between two identical responses: Date."""
    return _DATE.sub(b"\r\nDate: <date>", raw)


def header_block(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]))
