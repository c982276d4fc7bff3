"""GatewatchWSGI when things go wrong or end early: the status a client got after an exception,
every way of reading the input, where a response ends (exhausted, closed early, dropped,
file wrappers, test clients)."""

from __future__ import annotations

import gc
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import FileWrapper

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchWSGI
from gatewatch.types import Environ, StartResponse, Write, WSGIApp
from tests.support.scrape import value
from tests.support.wsgi_driver import call, make_environ

pytestmark = pytest.mark.usefixtures("wsgi_warnings_are_errors")


COUNT = "gatewatch_http_request_duration_seconds_count"
AFTER_COUNT = "gatewatch_http_request_after_response_seconds_count"
IN_FLIGHT = "gatewatch_http_requests_in_flight"


def start_quietly(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Write:
    """start_response of a test that drives the response itself (iterate, close, or drop it)."""
    return lambda data: None


def test_len_is_kept_only_when_the_app_iterable_has_one(registry: CollectorRegistry) -> None:
    def listed(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b"whole body"]

    def generated(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"whole body"

    result = GatewatchWSGI(listed, registry=registry)(make_environ("/list"), start_quietly)
    assert len(result) == 1  # type: ignore[arg-type]
    assert list(result) == [b"whole body"]
    result = GatewatchWSGI(generated, registry=registry)(make_environ("/gen"), start_quietly)
    assert not hasattr(result, "__len__")
    assert list(result) == [b"whole body"]


def failing_app(where: str) -> WSGIApp:
    """start_response("200 OK"), then a RuntimeError at ``where``."""

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [])
        if where == "before return":
            raise RuntimeError(where)
        if where == "after write":
            write(b"sent")
            raise RuntimeError(where)

        def body() -> Iterator[bytes]:
            if where == "after an empty chunk":
                yield b""
            if where == "after a chunk":
                yield b"sent"
            raise RuntimeError(where)

        return body()

    return app


@pytest.mark.parametrize(
    ("where", "status"),
    [
        # Nothing reached the server: it has sent no headers and answers 500 itself.
        ("before return", "500"),
        ("first next", "500"),
        ("after an empty chunk", "500"),
        # The 200 headers are out: the client got a 200, cut short.
        ("after write", "200"),
        ("after a chunk", "200"),
    ],
)
def test_status_after_an_exception_is_what_the_client_got(
    registry: CollectorRegistry, where: str, status: str
) -> None:
    with pytest.raises(RuntimeError, match=where):
        call(GatewatchWSGI(failing_app(where), registry=registry), make_environ("/fail"))
    assert value(registry, COUNT, status=status) == 1
    assert value(registry, COUNT) == 1
    assert value(registry, "gatewatch_http_exceptions_total", exception="RuntimeError") == 1
    assert value(registry, IN_FLIGHT) == 0


def test_exc_info_error_page_after_a_failure_is_recorded_as_sent(registry: CollectorRegistry) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"part"
        try:
            raise KeyError("late")
        except KeyError:
            # Headers are out: the server re-raises (PEP 3333); the client got a 200.
            start_response("500 Internal Server Error", [], sys.exc_info())

    with pytest.raises(KeyError):
        call(GatewatchWSGI(app, registry=registry), make_environ("/late"))
    assert value(registry, COUNT, status="200") == 1
    assert value(registry, "gatewatch_http_exceptions_total", exception="KeyError") == 1


class MinimalStream:
    """PEP 3333's four read methods and nothing else."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._inner.readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self._inner.readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)


class RawStream(MinimalStream):
    """A server's input with readinto/read1 too (like a socket file)."""

    def readinto(self, buffer: bytearray) -> int:
        return self._inner.readinto(buffer)

    def readinto1(self, buffer: bytearray) -> int:
        return self._inner.readinto1(buffer)

    def read1(self, size: int = -1) -> bytes:
        return self._inner.read1(size)


def reading_app(reader: Callable[[Any], object]) -> WSGIApp:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        reader(environ["wsgi.input"])
        start_response("200 OK", [])
        return [b""]

    return app


def read_all_into(stream: Any) -> None:
    buffer = bytearray(7)
    sizes = []
    while size := stream.readinto(buffer):
        sizes.append(size)
    assert sizes == [7, 7, 7, 7, 2]


@pytest.mark.parametrize(
    ("reader", "counted"),
    [
        (lambda s: s.read(), 30),
        (lambda s: s.read(size=5), 5),
        (lambda s: s.read1(12), 12),
        (read_all_into, 30),
        (lambda s: s.readinto1(bytearray(4)), 4),
        (lambda s: s.readline(), 10),
        (lambda s: s.readlines(), 30),
        (lambda s: list(s), 30),
    ],
)
def test_every_read_path_is_counted(
    registry: CollectorRegistry, reader: Callable[[Any], object], counted: int
) -> None:
    body = b"line one.\nline two.\nline 3...\n"
    environ = make_environ("/upload", "POST", body)
    environ["wsgi.input"] = RawStream(body)
    call(GatewatchWSGI(reading_app(reader), registry=registry), environ)
    assert value(registry, "gatewatch_http_request_body_bytes_total") == counted


def test_input_offers_only_what_the_server_offers(registry: CollectorRegistry) -> None:
    seen: dict[str, bool] = {}

    def inspect_input(stream: Any) -> None:
        for name in ("readinto", "readinto1", "read1", "fileno"):
            seen[name] = hasattr(stream, name)
        with pytest.raises(AttributeError):
            stream.readinto(bytearray(1))

    environ = make_environ("/upload", "POST", b"abc")
    environ["wsgi.input"] = MinimalStream(b"abc")
    call(GatewatchWSGI(reading_app(inspect_input), registry=registry), environ)
    assert seen == {"readinto": False, "readinto1": False, "read1": False, "fileno": False}


def test_readinto_returns_what_the_stream_returns(registry: CollectorRegistry) -> None:
    class NonBlocking(RawStream):
        def readinto(self, buffer: bytearray) -> Any:
            return None  # nothing available yet

    answers: list[object] = []
    environ = make_environ("/upload", "POST", b"abc")
    environ["wsgi.input"] = NonBlocking(b"abc")
    call(
        GatewatchWSGI(reading_app(lambda s: answers.append(s.readinto(bytearray(3)))), registry=registry),
        environ,
    )
    assert answers == [None]
    assert value(registry, "gatewatch_http_request_body_bytes_total") == 0


def test_flask_get_data_through_readinto_is_counted(registry: CollectorRegistry) -> None:
    from flask import Flask, request

    app = Flask("upload")

    @app.post("/upload")
    def upload() -> str:
        return str(len(request.get_data()))

    app.wsgi_app = GatewatchWSGI(app.wsgi_app, registry=registry)  # type: ignore[method-assign]
    environ = make_environ("/upload", "POST", b"x" * 100_000)
    environ["wsgi.input"] = RawStream(b"x" * 100_000)
    assert call(app, environ).body == b"100000"
    assert value(registry, "gatewatch_http_request_body_bytes_total", route="/upload") == 100_000


class CleanUp:
    """A response whose close() does the app's clean-up, optionally failing."""

    def __init__(
        self, chunks: list[bytes], *, sleep: float = 0.0, error: BaseException | None = None
    ) -> None:
        self.chunks = chunks
        self.sleep = sleep
        self.error = error
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed += 1
        time.sleep(self.sleep)
        if self.error is not None:
            raise self.error


def returning(body: Any) -> WSGIApp:
    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        return body

    return app


def test_response_ends_when_the_body_is_exhausted_and_is_recorded_at_close(
    registry: CollectorRegistry,
) -> None:
    body = CleanUp([b"a", b"bc"], sleep=0.3)
    started = time.perf_counter()
    result: Any = GatewatchWSGI(returning(body), registry=registry)(make_environ("/x"), start_quietly)
    assert value(registry, IN_FLIGHT) == 1
    assert b"".join(result) == b"abc"
    handed = time.perf_counter() - started
    # Exhausted: out of in-flight before the server's close(); recorded at the close.
    assert value(registry, IN_FLIGHT) == 0
    assert value(registry, COUNT) == 0
    result.close()
    result.close()
    assert body.closed == 1
    assert value(registry, COUNT, status="200") == 1
    assert value(registry, AFTER_COUNT) == 1
    after = value(registry, "gatewatch_http_request_after_response_seconds_sum")
    assert after >= 0.3
    # The clean-up is not part of the request: its duration lies within the time the body took to
    # be handed over, measured around it here before close() was called, not within a fixed
    # window (a loaded machine took 0.7 s to hand over two chunks, and to scrape between them).
    assert value(registry, "gatewatch_http_request_duration_seconds_sum") <= handed
    assert value(registry, COUNT) == 1


def test_close_raising_after_the_body_propagates_and_counts(registry: CollectorRegistry) -> None:
    error = OSError("clean-up failed")
    body = CleanUp([b"done"], error=error)
    with pytest.raises(OSError) as caught:
        call(GatewatchWSGI(returning(body), registry=registry), make_environ("/x"))
    assert caught.value is error
    assert value(registry, COUNT, status="200") == 1
    assert value(registry, AFTER_COUNT) == 1
    assert value(registry, "gatewatch_http_exceptions_total", exception="OSError") == 1


def test_close_before_the_end_is_a_client_that_left(registry: CollectorRegistry) -> None:
    body = CleanUp([b"1", b"2"])
    result: Any = GatewatchWSGI(returning(body), registry=registry)(make_environ("/x"), start_quietly)
    assert next(iter(result)) == b"1"
    result.close()
    assert value(registry, COUNT, status="499") == 1
    assert value(registry, AFTER_COUNT) == 0
    assert value(registry, IN_FLIGHT) == 0


def test_response_dropped_unread_does_not_stay_in_flight(registry: CollectorRegistry) -> None:
    body = CleanUp([b"never read"])
    result: Any = GatewatchWSGI(returning(body), registry=registry)(make_environ("/x"), start_quietly)
    assert value(registry, IN_FLIGHT) == 1
    del result
    gc.collect()
    assert value(registry, COUNT, status="499") == 1
    assert value(registry, IN_FLIGHT) == 0
    # Nobody closed it: the app's close() is not called on the server's behalf.
    assert body.closed == 0


def test_file_wrapper_response_ends_at_its_close(registry: CollectorRegistry) -> None:
    with tempfile.TemporaryFile() as handle:
        handle.write(b"z" * 3000)
        handle.seek(0)
        result: Any = GatewatchWSGI(
            lambda environ, start_response: returning(environ["wsgi.file_wrapper"](handle))(
                environ, start_response
            ),
            registry=registry,
        )(make_environ("/file"), start_quietly)
        assert isinstance(result, FileWrapper)
        assert b"".join(result) == b"z" * 3000
        assert value(registry, IN_FLIGHT) == 1  # the server may still be sending it
        result.close()
    assert value(registry, COUNT, status="200") == 1
    assert value(registry, IN_FLIGHT) == 0


def flask_client(registry: CollectorRegistry) -> Any:
    from flask import Flask

    app = Flask("client")

    @app.get("/hello")
    def hello() -> str:
        return "hello"

    app.wsgi_app = GatewatchWSGI(app.wsgi_app, registry=registry)  # type: ignore[method-assign]
    return app.test_client()


def test_test_client_response_read_then_closed_is_recorded(registry: CollectorRegistry) -> None:
    client = flask_client(registry)
    response = client.get("/hello")
    assert value(registry, IN_FLIGHT) == 1  # not read yet: the body has not been taken
    assert response.data == b"hello"
    assert value(registry, IN_FLIGHT) == 0
    response.close()
    assert value(registry, COUNT, route="/hello", status="200") == 1
    assert value(registry, AFTER_COUNT) == 1


def test_test_client_response_read_never_closed_is_recorded_when_dropped(registry: CollectorRegistry) -> None:
    client = flask_client(registry)
    response = client.get("/hello")
    assert response.data == b"hello"
    assert value(registry, IN_FLIGHT) == 0
    del response
    gc.collect()
    # A 200 (the body was read to its end); no close, so no after-response time.
    assert value(registry, COUNT, route="/hello", status="200") == 1
    assert value(registry, AFTER_COUNT) == 0


def test_test_client_buffered_is_a_200(registry: CollectorRegistry) -> None:
    client = flask_client(registry)
    assert client.get("/hello", buffered=True).data == b"hello"
    assert value(registry, COUNT, route="/hello", status="200") == 1
    assert value(registry, IN_FLIGHT) == 0


def test_test_client_closed_before_reading_is_a_499(registry: CollectorRegistry) -> None:
    client = flask_client(registry)
    client.get("/hello").close()
    assert value(registry, COUNT, route="/hello", status="499") == 1
    assert value(registry, "gatewatch_http_disconnects_total", route="/hello") == 1
    assert value(registry, IN_FLIGHT) == 0


def test_test_client_response_dropped_unread_is_a_499(registry: CollectorRegistry) -> None:
    client = flask_client(registry)
    response = client.get("/hello")
    del response
    gc.collect()
    assert value(registry, COUNT, route="/hello", status="499") == 1
    assert value(registry, IN_FLIGHT) == 0
