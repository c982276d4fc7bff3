"""The hub: exact counts under threads, bounded labels, isolated and rate-limited internal errors."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchWSGI, Monitor
from gatewatch._labels import BoundedLabels, exception_name, method_label, status_label
from gatewatch.monitor import Sink
from gatewatch.record import RequestRecord
from gatewatch.types import Environ, StartResponse
from tests.support.scrape import value
from tests.support.sinks import BrokenSink
from tests.support.wsgi_driver import call, make_environ


def ok_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


def test_exact_counts_from_many_threads(registry: CollectorRegistry) -> None:
    app = GatewatchWSGI(ok_app, registry=registry)

    def serve(n: int) -> None:
        for _ in range(500):
            call(app, make_environ(f"/t/{n}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(serve, range(8)))
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 4000
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 8000
    assert value(registry, "gatewatch_http_concurrency_at_arrival_count") == 4000
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


def test_internal_errors_are_counted_and_logged_once_a_minute(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    app = GatewatchWSGI(ok_app, registry=registry)

    app.monitor.add_sink(BrokenSink())
    with caplog.at_level(logging.ERROR, logger="gatewatch"):
        for _ in range(5):
            assert call(app, make_environ("/")).body == b"ok"
    assert value(registry, "gatewatch_internal_errors_total") == 5
    logged = [r for r in caplog.records if r.name == "gatewatch"]
    assert len(logged) == 1
    assert "sink.request_finished" in logged[0].getMessage()


def test_bounded_labels() -> None:
    labels = BoundedLabels(limit=3)
    assert [labels.label(v) for v in "abcdea"] == ["a", "b", "c", "<other>", "<other>", "a"]
    assert labels.overflowed == 2
    assert labels.label("x" * 500) == "<other>"


def test_method_status_and_exception_labels() -> None:
    assert method_label("PATCH") == "PATCH"
    assert method_label("PROPFIND") == "_OTHER"
    assert method_label("get") == "_OTHER"
    assert status_label(404) == "404"
    assert status_label(1234) == "_OTHER"
    assert exception_name(ValueError()) == "ValueError"
    assert exception_name(json.JSONDecodeError("x", "doc", 0)) == "json.decoder.JSONDecodeError"


def test_monitor_in_flight_and_servers() -> None:
    monitor = Monitor()
    record = monitor.start("wsgi", "GET", "/")
    assert monitor.in_flight() == {("wsgi", "GET"): 1}
    monitor.finish(record)
    assert monitor.in_flight() == {("wsgi", "GET"): 0}
    assert record.status_label == "500"  # no response was started
    assert record.route_label == "<unmatched>"


class FinishedOnly(Sink):
    def __init__(self) -> None:
        self.finished: list[RequestRecord] = []

    def request_finished(self, record: RequestRecord) -> None:
        self.finished.append(record)


class NotASink:
    """Duck-typed: only the hooks it has are called."""

    def __init__(self) -> None:
        self.started = 0

    def request_started(self, record: RequestRecord) -> None:
        self.started += 1


def test_only_the_hooks_a_sink_overrides_are_called(monkeypatch: pytest.MonkeyPatch) -> None:
    finished_only = FinishedOnly()
    duck = NotASink()
    monitor = Monitor(sinks=(finished_only,))
    monitor.add_sink(duck)  # type: ignore[arg-type]
    # Sink's own no-op hooks are never called: made to fail, they would be counted.
    for hook in (
        "request_started",
        "request_left",
        "internal_error",
        "session_accepted",
        "session_finished",
        "loop_lag",
        "loop_block",
    ):
        monkeypatch.setattr(Sink, hook, _must_not_be_called)
    record = monitor.start("wsgi", "GET", "/")
    record.status = 200
    record.response_ended()
    monitor.finish(record, record.start + 1.0)
    monitor.loop_lag(0.1)
    session = monitor.start_session("/ws")
    monitor.session_accepted(session)
    monitor.finish_session(session)
    assert monitor.internal_errors == 0
    assert finished_only.finished == [record] and duck.started == 1


def test_a_sink_added_later_hears_from_then_on() -> None:
    first, second = FinishedOnly(), FinishedOnly()
    monitor = Monitor(sinks=(first,))
    monitor.finish(monitor.start("wsgi", "GET", "/one"))
    monitor.add_sink(second)
    monitor.finish(monitor.start("wsgi", "GET", "/two"))
    assert [r.path for r in first.finished] == ["/one", "/two"]
    assert [r.path for r in second.finished] == ["/two"]


def _must_not_be_called(*args: object) -> None:
    raise AssertionError("a no-op hook was called")
