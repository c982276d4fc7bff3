"""The OTLP/HTTP round trip: spans and metrics of requests served by a real uvicorn (a Starlette
app, and a FastAPI app that traces itself) and a real gunicorn ``-w 2``, exported by the SDK to a
receiver on 127.0.0.1 and decoded there."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command, uvicorn_command
from tests.support.otlp_receiver import Received, otlp_receiver
from tests.support.traffic import ROOT

pytestmark = pytest.mark.slow

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    with otlp_receiver() as found:
        yield found


def otel_env(endpoint: str, service: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
    }


def request_counts(received: Received) -> dict[str, int]:
    """Requests per worker (service.instance.id), from the latest cumulative duration points."""
    latest: dict[tuple[str, tuple[Any, ...]], int] = {}
    for resource, attributes, point in received.points("http.server.request.duration"):
        key = (resource["service.instance.id"], tuple(sorted(attributes.items())))
        latest[key] = max(latest.get(key, 0), point.count)
    counts: dict[str, int] = {}
    for (instance, _), count in latest.items():
        counts[instance] = counts.get(instance, 0) + count
    return counts


def server_spans(received: Received) -> list[tuple[dict[str, Any], Any]]:
    return [(resource, span) for resource, span in received.spans() if span.kind == SERVER_KIND]


def send_items(server: ServerProcess, last: str, last_status: int) -> None:
    """Five items, one joining a caller's trace, then ``last``."""
    with httpx.Client(base_url=server.base_url) as client:
        for n in range(1, 6):
            assert client.get(f"/items/{n}").status_code == 200
        assert client.get("/items/9", headers={"traceparent": TRACEPARENT}).status_code == 200
        assert client.get(last).status_code == last_status


def test_uvicorn_exports_spans_and_metrics(receiver: tuple[str, Received]) -> None:
    endpoint, received = receiver
    port = free_port()
    command = uvicorn_command("tests.support.otel_server_app:asgi_app", port)
    env = otel_env(endpoint, "gatewatch-uvicorn")
    with ServerProcess(command, port=port, ready_path="/items/0", env=env, cwd=ROOT) as server:
        send_items(server, "/missing", 404)
        expected = 1 + 5 + 1 + 1  # the ready probe too
        received.wait(
            lambda: (
                len(server_spans(received)) >= expected and sum(request_counts(received).values()) >= expected
            )
        )
    spans = server_spans(received)
    assert len(spans) == expected
    resource, _ = spans[0]
    assert resource["service.name"] == "gatewatch-uvicorn"
    names = sorted(span.name for _, span in spans)
    assert names == ["GET"] + ["GET /items/{item_id:int}"] * 7
    (joined,) = [span for _, span in spans if span.trace_id.hex() == TRACE_ID]
    assert joined.parent_span_id.hex() == "b7ad6b7169203331"
    inner = [span for _, span in received.spans() if span.name == "load item"]
    by_id = {span.span_id: span for _, span in spans}
    assert len(inner) == 7 and all(by_id[span.parent_span_id].name.startswith("GET") for span in inner)
    assert sum(request_counts(received).values()) == expected


def test_fastapi_tracing_itself_gives_one_trace_per_request(receiver: tuple[str, Received]) -> None:
    """Issue 26: FastAPI opens a SERVER span of its own and records two of the HTTP instruments;
    wrapped with otel=True, each request gave two traces and each instrument twice."""
    endpoint, received = receiver
    port = free_port()
    command = uvicorn_command("tests.support.otel_server_app:fastapi_app", port)
    env = otel_env(endpoint, "gatewatch-fastapi")
    with ServerProcess(command, port=port, ready_path="/items/0", env=env, cwd=ROOT) as server:
        send_items(server, "/fails", 500)
        expected = 1 + 5 + 1 + 1  # the ready probe too
        endpoints = expected  # FastAPI's operation span around each endpoint

        def arrived() -> bool:
            fastapi_spans = [span for _, span in received.spans() if span.name == "fastapi.endpoint"]
            return len(fastapi_spans) >= endpoints and sum(request_counts(received).values()) >= expected

        received.wait(arrived)
    spans = [span for _, span in received.spans()]
    traces: dict[bytes, list[Any]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    # One trace per request, with one SERVER span (gatewatch's), every other span under it.
    assert len(traces) == expected
    for members in traces.values():
        (root,) = [span for span in members if span.kind == SERVER_KIND]
        by_id = {span.span_id: span for span in members}
        for span in members:
            ancestor = span
            while ancestor is not root:
                ancestor = by_id[ancestor.parent_span_id]
    names = sorted(span.name for span in spans if span.kind == SERVER_KIND)
    assert names == ["GET /fails"] + ["GET /items/{item_id}"] * 7
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        if span.name == "fastapi.endpoint":
            assert by_id[span.parent_span_id].kind == SERVER_KIND
        if span.name == "load item":
            assert by_id[span.parent_span_id].name == "fastapi.endpoint"
    (joined,) = [span for span in spans if span.kind == SERVER_KIND and span.trace_id.hex() == TRACE_ID]
    assert joined.parent_span_id.hex() == "b7ad6b7169203331"
    # Each instrument once: gatewatch's.
    assert sum(request_counts(received).values()) == expected
    assert received.metric_scopes("http.server.request.duration") == {"gatewatch"}
    assert received.metric_scopes("http.server.active_requests") == {"gatewatch"}


def test_gunicorn_two_workers_export_their_own(receiver: tuple[str, Received]) -> None:
    endpoint, received = receiver
    port = free_port()
    command = gunicorn_command(
        "tests.support.otel_server_app:wsgi_app",
        port,
        "-w",
        "2",
        "-c",
        str(ROOT / "examples" / "gunicorn.conf.py"),
    )
    env = {**otel_env(endpoint, "gatewatch-gunicorn"), "GATEWATCH_OTEL": "true"}
    sent = 30
    with ServerProcess(command, port=port, ready_path="/", env=env, cwd=ROOT) as server:

        def get(n: int) -> int:
            headers = {"traceparent": TRACEPARENT} if n == 0 else {}
            return httpx.get(server.base_url + f"/hello/{n}", headers=headers).status_code

        # Six at a time: both sync workers serve some.
        with ThreadPoolExecutor(6) as pool:
            assert set(pool.map(get, range(sent))) == {200}
        expected = sent + 1
        received.wait(
            lambda: (
                len(server_spans(received)) >= expected and sum(request_counts(received).values()) >= expected
            )
        )
    spans = server_spans(received)
    assert len(spans) == expected
    assert {resource["service.name"] for resource, _ in spans} == {"gatewatch-gunicorn"}
    assert all(span.name == "GET" for _, span in spans)
    assert sum(span.trace_id.hex() == TRACE_ID for _, span in spans) == 1
    counts = request_counts(received)
    # Each worker exports its own requests: none lost, none doubled.
    assert sum(counts.values()) == expected
    span_workers = {resource["service.instance.id"] for resource, _ in spans}
    assert set(counts) == span_workers
    assert len(counts) == 2, counts
    inner = [span for _, span in received.spans() if span.name == "wsgi work"]
    assert len(inner) == expected
