"""GatewatchWSGI: PEP 3333 transparency (validator on both sides) and exact accounting."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.util import FileWrapper
from wsgiref.validate import validator

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchWSGI, set_route
from gatewatch.types import Environ, StartResponse, WSGIApp
from tests.support.sampling import sample_every_request
from tests.support.scrape import value
from tests.support.wsgi_driver import call, make_environ, plain_app

pytestmark = pytest.mark.usefixtures("wsgi_warnings_are_errors")


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
