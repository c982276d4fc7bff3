"""A minimal, strict WSGI server for in-process tests: call, iterate, close (PEP 3333)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults

from gatewatch.types import Environ, ExcInfo, StartResponse, WSGIApp


class Response:
    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.result: Iterable[bytes] | None = None


def make_environ(path: str = "/", method: str = "GET", body: bytes = b"", **extra: Any) -> Environ:
    environ: Environ = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "wsgi.file_wrapper": FileWrapper,
    }
    setup_testing_defaults(environ)
    environ.update(extra)
    return environ


def call(app: WSGIApp, environ: Environ | None = None, *, stop_after: int | None = None) -> Response:
    """Serve one request; ``stop_after`` chunks simulates a client that goes away."""
    environ = make_environ() if environ is None else environ
    response = Response()
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None) -> Any:
        if exc_info is not None and response.status and written:
            raise exc_info[1].with_traceback(exc_info[2])
        response.status = status
        response.headers = headers
        return written.append

    result = app(environ, start_response)
    response.result = result
    try:
        for index, chunk in enumerate(result):
            if stop_after is not None and index >= stop_after:
                break
            written.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    response.body = b"".join(written)
    return response


def plain_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello ", body]
