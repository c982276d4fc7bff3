"""GatewatchWSGI: PEP 3333 transparency (validator on both sides) and exact accounting."""

from __future__ import annotations

import functools
import gc
import io
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import FileWrapper
from wsgiref.validate import WSGIWarning, validator

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchWSGI, set_route
from gatewatch.types import Environ, StartResponse, Write, WSGIApp
from tests.support.sampling import sample_every_request
from tests.support.scrape import value
from tests.support.wsgi_driver import call, make_environ


@pytest.fixture(autouse=True)
def _wsgi_warnings_are_errors() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        yield


def plain_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello ", body]


class ClosingBody:
    """A response iterable with close(), counting how often it is closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        self.closed += 1


def wrap_both_sides(app: WSGIApp, registry: CollectorRegistry) -> WSGIApp:
    inner = validator(app)
    return validator(GatewatchWSGI(inner, registry=registry))


def test_plain_app_passes_validator_both_sides(registry: CollectorRegistry) -> None:
    app = wrap_both_sides(plain_app, registry)
    response = call(app, make_environ("/plain", "POST", b"world"))
    assert response.status == "200 OK"
    assert response.body == b"hello world"
    assert (
        value(
            registry,
            "gatewatch_http_request_duration_seconds_count",
            route="<unmatched>",
            status="200",
            method="POST",
            interface="wsgi",
        )
        == 1
    )
    assert value(registry, "gatewatch_http_request_body_bytes_total") == 5
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 11
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


def test_generator_with_close_is_closed_exactly_once(registry: CollectorRegistry) -> None:
    body = ClosingBody([b"a", b"", b"bc"])

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return body

    response = call(wrap_both_sides(app, registry), make_environ("/gen"))
    assert response.body == b"abc"
    assert body.closed == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="201") == 1
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 3
    assert value(registry, "gatewatch_http_time_to_first_byte_seconds_count") == 1


def test_file_wrapper_through_validators(registry: CollectorRegistry) -> None:
    with tempfile.TemporaryFile() as handle:
        handle.write(b"0123456789" * 1000)
        handle.seek(0)

        def app(environ: Environ, start_response: StartResponse) -> Any:
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return environ["wsgi.file_wrapper"](handle, 4096)

        response = call(wrap_both_sides(app, registry), make_environ("/file"))
    assert response.body == b"0123456789" * 1000
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 10_000


def test_file_wrapper_object_reaches_the_server_untouched(registry: CollectorRegistry) -> None:
    with tempfile.TemporaryFile() as handle:
        handle.write(b"x" * 5000)
        handle.seek(1000)
        wrapper_made: list[FileWrapper] = []

        def app(environ: Environ, start_response: StartResponse) -> Any:
            start_response("200 OK", [])
            wrapper = environ["wsgi.file_wrapper"](handle)
            wrapper_made.append(wrapper)
            return wrapper

        environ = make_environ("/file")
        response = call(GatewatchWSGI(app, registry=registry), environ)
        # The server gets its own FileWrapper back, so it may still use sendfile.
        assert response.result is wrapper_made[0]
        assert isinstance(response.result, FileWrapper)
        assert response.body == b"x" * 4000
        assert handle.closed
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 4000
    assert value(registry, "gatewatch_http_requests_in_flight") == 0
    assert value(registry, "gatewatch_http_disconnects_total") == 0


def test_exc_info_error_page(registry: CollectorRegistry) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
            return [b"sorry"]

    response = call(wrap_both_sides(app, registry), make_environ("/exc"))
    assert response.status.startswith("500")
    assert response.body == b"sorry"
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="500") == 1
    # The app handled it: a 500 page is not an exception that escaped.
    assert value(registry, "gatewatch_http_exceptions_total") == 0


def test_raising_app_propagates_the_same_exception(registry: CollectorRegistry) -> None:
    error = ZeroDivisionError("boom")

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise error

    with pytest.raises(ZeroDivisionError) as caught:
        call(wrap_both_sides(app, registry), make_environ("/raise"))
    assert caught.value is error
    assert value(registry, "gatewatch_http_exceptions_total", exception="ZeroDivisionError") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="500") == 1
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


def test_raising_mid_stream_is_counted_and_closed(registry: CollectorRegistry) -> None:
    closed: list[bool] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b"first"
            raise OSError("disk gone")
        finally:
            closed.append(True)

    with pytest.raises(OSError, match="disk gone"):
        call(GatewatchWSGI(app, registry=registry), make_environ("/midstream"))
    assert closed == [True]
    assert value(registry, "gatewatch_http_exceptions_total", exception="OSError") == 1
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 5
    assert value(registry, "gatewatch_http_disconnects_total") == 0


def test_client_leaving_mid_stream_is_a_disconnect_not_an_error(registry: CollectorRegistry) -> None:
    body = ClosingBody([b"1", b"2", b"3", b"4"])

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("200 OK", [])
        return body

    call(GatewatchWSGI(app, registry=registry), make_environ("/stream"), stop_after=2)
    assert body.closed == 1
    assert value(registry, "gatewatch_http_disconnects_total", interface="wsgi") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 0
    assert value(registry, "gatewatch_http_exceptions_total") == 0


def test_duration_and_blocking_run_until_close(registry: CollectorRegistry) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"start"
        time.sleep(0.3)  # after the app returned: still part of the request
        yield b"end"

    call(sample_every_request(GatewatchWSGI(app, registry=registry)), make_environ("/slowstream"))
    duration = value(registry, "gatewatch_http_request_duration_seconds_sum")
    assert duration >= 0.3
    assert value(registry, "gatewatch_http_request_blocking_seconds_sum") >= 0.3
    # Sleeping is not CPU work, and the first byte left before the sleep: both well under half
    # the request (the sleep would make them all of it), not a 40 ms window a loaded machine
    # can miss.
    assert value(registry, "gatewatch_http_request_cpu_seconds_sum") < duration / 2
    assert value(registry, "gatewatch_http_time_to_first_byte_seconds_sum") < duration / 2


def test_cpu_time_counts_work(registry: CollectorRegistry) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        # A CPU-time deadline: on a busy machine a wall-clock loop may get little CPU.
        deadline = time.thread_time() + 0.03
        while time.thread_time() < deadline:
            pass
        start_response("200 OK", [])
        return [b"done"]

    call(sample_every_request(GatewatchWSGI(app, registry=registry)), make_environ("/cpu"))
    assert value(registry, "gatewatch_http_request_cpu_seconds_sum") >= 0.03


def test_cpu_time_off(registry: CollectorRegistry) -> None:
    call(GatewatchWSGI(plain_app, registry=registry, cpu_time=False), make_environ("/"))
    assert value(registry, "gatewatch_http_request_cpu_seconds_count") == 0
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 1


def test_set_route_names_the_template(registry: CollectorRegistry) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        set_route("/users/{id}")
        start_response("200 OK", [])
        return [b""]

    wrapped = GatewatchWSGI(app, registry=registry)
    for user in range(5):
        call(wrapped, make_environ(f"/users/{user}"))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", route="/users/{id}") == 5


def test_unknown_method_is_bounded(registry: CollectorRegistry) -> None:
    wrapped = GatewatchWSGI(plain_app, registry=registry)
    call(wrapped, make_environ("/", "BREW"))
    call(wrapped, make_environ("/", "get"))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", method="_OTHER") == 2


def test_metrics_path_is_served_and_not_counted(registry: CollectorRegistry) -> None:
    wrapped = GatewatchWSGI(plain_app, registry=registry, metrics_path="/metrics")
    call(wrapped, make_environ("/hello"))
    scrape = call(wrapped, make_environ("/metrics"))
    assert scrape.status.startswith("200")
    text = scrape.body.decode()
    assert value(text, "gatewatch_http_request_duration_seconds_count") == 1
    scrape = call(wrapped, make_environ("/metrics"))
    assert value(scrape.body.decode(), "gatewatch_http_request_duration_seconds_count") == 1


def test_flask_route_and_handled_exception(registry: CollectorRegistry) -> None:
    from flask import Flask

    app = Flask("t")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> str:
        return str(item_id)

    @app.get("/fail")
    def fail() -> str:
        raise LookupError("nope")

    app.wsgi_app = GatewatchWSGI(app.wsgi_app, registry=registry)  # type: ignore[method-assign]
    client = app.test_client()
    for n in range(3):
        assert client.get(f"/items/{n}", buffered=True).data == str(n).encode()
    assert client.get("/fail", buffered=True).status_code == 500
    assert client.get("/missing", buffered=True).status_code == 404
    assert (
        value(
            registry,
            "gatewatch_http_request_duration_seconds_count",
            route="/items/<int:item_id>",
            status="200",
        )
        == 3
    )
    assert value(registry, "gatewatch_http_request_duration_seconds_count", route="/fail", status="500") == 1
    assert (
        value(registry, "gatewatch_http_request_duration_seconds_count", route="<unmatched>", status="404")
        == 1
    )
    assert value(registry, "gatewatch_http_exceptions_total", exception="LookupError", route="/fail") == 1


# -- issue 16 ------------------------------------------------------------------------------

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


class AsyncCallable:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


class SyncCallable:
    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]


class ClassApp:
    """PEP 3333's class-based application: calling the class makes the response iterable."""

    def __init__(self, environ: Environ, start_response: StartResponse) -> None:
        start_response("200 OK", [])

    def __iter__(self) -> Iterator[bytes]:
        yield b"from a class"


async def asgi_function(scope: Any, receive: Any, send: Any) -> None:
    return None


def starlette_app() -> object:
    from starlette.applications import Starlette

    return Starlette()


def fastapi_app() -> object:
    fastapi = pytest.importorskip("fastapi")
    return fastapi.FastAPI()


@pytest.mark.parametrize(
    "make",
    [
        starlette_app,
        fastapi_app,
        AsyncCallable,
        lambda: asgi_function,
        lambda: functools.partial(asgi_function, {}),
    ],
    ids=["starlette", "fastapi", "async __call__", "async def", "partial"],
)
def test_an_asgi_app_is_refused_at_construction(make: Callable[[], object]) -> None:
    with pytest.raises(TypeError, match=r"^GatewatchWSGI wraps a WSGI application") as caught:
        GatewatchWSGI(make(), registry=CollectorRegistry())  # type: ignore[arg-type]
    message = str(caught.value)
    assert "got an ASGI application (" in message
    assert message.endswith("as app: wrap it with GatewatchASGI instead")


def test_the_refusal_names_the_asgi_app() -> None:
    with pytest.raises(TypeError, match=r"\(starlette\.applications\.Starlette, its __call__ is async\)"):
        GatewatchWSGI(starlette_app(), registry=CollectorRegistry())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\(tests\.wsgi\.test_wsgi\.asgi_function, its __call__ is async\)"):
        GatewatchWSGI(asgi_function, registry=CollectorRegistry())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("app", "got"),
    [
        (None, "got None as app"),
        (42, "got a builtins.int as app, which is not callable"),
        (
            "app:application",
            "got a builtins.str as app, which is not callable: pass the application "
            "object, not its import string",
        ),
    ],
)
def test_a_non_callable_is_refused_at_construction(app: object, got: str) -> None:
    with pytest.raises(TypeError, match=r"^GatewatchWSGI wraps a WSGI application") as caught:
        GatewatchWSGI(app, registry=CollectorRegistry())  # type: ignore[arg-type]
    assert str(caught.value).endswith(got)


def test_anything_else_callable_is_accepted(registry: CollectorRegistry) -> None:
    from flask import Flask

    flask = Flask("accepted")
    for app in (plain_app, SyncCallable(), ClassApp, functools.partial(plain_app), flask, flask.wsgi_app):
        GatewatchWSGI(app, registry=registry)
    response = call(GatewatchWSGI(ClassApp, registry=registry), make_environ("/class"))
    assert response.body == b"from a class"
