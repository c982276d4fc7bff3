"""The request lifecycle the entry points share (gatewatch._lifecycle): how a request begins."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor
from gatewatch.monitor import Sink
from gatewatch.record import RequestRecord
from gatewatch.types import Environ, Receive, Scope, Send, StartResponse
from tests.support.asgi_driver import http_scope, serve
from tests.support.sampling import sample_every_request
from tests.support.wsgi_driver import call, make_environ


class CpuAtStart(Sink):
    """Whether each request's CPU time was to be measured, as the sinks hear of its start."""

    def __init__(self) -> None:
        self.measured: list[bool] = []

    def request_started(self, record: RequestRecord) -> None:
        self.measured.append(record.cpu is not None)


def failing_arrival() -> Monitor:
    """A monitor that fails as a request arrives: gatewatch's own error, not the app's. Its
    ``arrive`` replaced on the instance, not in a subclass: compiled code takes a Monitor
    itself, no subclass (gatewatch/monitor.py)."""
    monitor = Monitor()

    def arrive(record: RequestRecord) -> None:
        raise RuntimeError("gatewatch broke")

    monitor.arrive = arrive  # type: ignore[method-assign]
    return monitor


async def asgi_ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"made"})


def wsgi_ok(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("201 Created", [])
    return [b"made"]


def serve_asgi(app: Any) -> tuple[int, bytes]:
    exchange = asyncio.run(serve(app, http_scope("/")))
    return exchange.status, exchange.body


def serve_wsgi(app: Any) -> tuple[int, bytes]:
    response = call(app, make_environ("/"))
    return int(response.status[:3]), response.body


ENTRY_POINTS = [
    pytest.param(GatewatchASGI, asgi_ok, serve_asgi, id="asgi"),
    pytest.param(GatewatchWSGI, wsgi_ok, serve_wsgi, id="wsgi"),
]


@pytest.mark.parametrize(("middleware", "app", "serve_one"), ENTRY_POINTS)
@pytest.mark.parametrize("cpu_time", [True, False])
def test_the_sinks_hear_of_a_request_with_its_cpu_decision_made(
    middleware: Any, app: Any, serve_one: Any, cpu_time: bool, registry: CollectorRegistry
) -> None:
    wrapped = sample_every_request(middleware(app, registry=registry, cpu_time=cpu_time))
    sink = CpuAtStart()
    wrapped.monitor.add_sink(sink)
    for _ in range(3):
        assert serve_one(wrapped) == (201, b"made")
    assert sink.measured == [cpu_time] * 3


@pytest.mark.parametrize(("middleware", "app", "serve_one"), ENTRY_POINTS)
def test_a_request_gatewatch_fails_to_begin_is_served_unchanged_and_counted(
    middleware: Any, app: Any, serve_one: Any, registry: CollectorRegistry
) -> None:
    monitor = failing_arrival()
    wrapped = middleware(app, monitor=monitor, registry=registry)
    assert serve_one(wrapped) == (201, b"made")
    assert serve_one(wrapped) == (201, b"made")
    assert monitor.internal_errors == 2
