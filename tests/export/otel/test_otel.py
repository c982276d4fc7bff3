"""OpenTelemetry export in process: spans and metrics through in-memory providers."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.asgi import get_asgi_application
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from pytest_django.fixtures import Settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.options import Options, layered
from gatewatch.types import Environ, Scope, StartResponse
from tests.support import otel_django
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.django_support import django_registry
from tests.support.otel import Otel, in_memory
from tests.support.promtool import check_metrics, promtool_path
from tests.support.websocket_driver import ROUTE, Session, echo, routed, text, websocket_scope
from tests.support.websocket_driver import disconnect as ws_disconnect
from tests.support.websocket_driver import run as run_websocket
from tests.support.wsgi_driver import call, make_environ

__all__ = ["django_registry"]

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"
DURATION = "http.server.request.duration"
SEMCONV_BOUNDARIES = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


@pytest.fixture
def otel() -> Iterator[Otel]:
    found = in_memory()
    yield found
    found.tracer_provider.shutdown()
    found.meter_provider.shutdown()


# -- a Starlette app --------------------------------------------------------------------

app_tracer: list[trace.Tracer] = []


async def item(request: Request) -> Response:
    with app_tracer[0].start_as_current_span("load item"):
        return PlainTextResponse(f"item {request.path_params['item_id']}\n")


def sync_item(request: Request) -> Response:
    # Run by Starlette in a worker thread: the context (and the span) go with it.
    with app_tracer[0].start_as_current_span("sync work"):
        return PlainTextResponse("sync\n")


async def failing_response(request: Request) -> Response:
    return PlainTextResponse("down\n", status_code=503)


async def raising(request: Request) -> Response:
    raise RuntimeError("boom")


async def stream(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"chunk\n"
            await asyncio.sleep(0)

    return StreamingResponse(body())


def starlette_app(otel: Otel) -> Starlette:
    app_tracer[:] = [otel.tracer_provider.get_tracer("tests.app")]
    return Starlette(
        routes=[
            Route("/items/{item_id:int}", item),
            Route("/sync", sync_item),
            Route("/unavailable", failing_response),
            Route("/raise", raising),
            Route("/stream", stream),
        ]
    )


def serve_all(app: Any, *scopes: Scope) -> list[Exchange]:
    async def main() -> list[Exchange]:
        return [await serve(app, scope) for scope in scopes]

    return asyncio.run(main())


def openmetrics(registry: CollectorRegistry) -> str:
    """The OpenMetrics exposition (exemplars are in it, not in the classic text format)."""
    from prometheus_client.openmetrics.exposition import generate_latest

    text: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
    return text.decode()


def openmetrics_families(text: str) -> list[Any]:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    return list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]


def parent_id(span: Any) -> int | None:
    return None if span.parent is None else int(span.parent.span_id)


def only(spans: list[Any]) -> Any:
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# -- HTTP spans ---------------------------------------------------------------------------


def test_success_span_and_metrics_on_the_conventions(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    headers = [(b"host", b"shop.example:8443"), (b"user-agent", b"pytest/1")]
    (exchange,) = serve_all(wrapped, http_scope("/items/7", headers=headers, query_string=b"token=s3cret"))
    assert exchange.status == 200
    server = only(otel.server_spans())
    assert server.name == "GET /items/{item_id:int}"
    assert server.kind is SpanKind.SERVER
    attributes = dict(server.attributes)
    assert {k: attributes[k] for k in attributes if not k.startswith("gatewatch.")} == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "http.route": "/items/{item_id:int}",
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
        "server.address": "shop.example",
        "server.port": 8443,
        "client.address": "127.0.0.1",
        "user_agent.original": "pytest/1",
        "http.request.body.size": 0,
        "http.response.body.size": len(b"item 7\n"),
    }
    assert "url.query" not in attributes  # only with otel_url_query=True
    assert "url.path" not in attributes  # only with otel_url_path=True: no raw path by default
    assert attributes["gatewatch.interface"] == "asgi"
    for name in ("gatewatch.blocking", "gatewatch.time_to_first_byte", "gatewatch.after_response"):
        assert 0 <= attributes[name] < 1, name
    assert attributes["gatewatch.concurrency_at_arrival"] == 0
    assert server.status.status_code is StatusCode.UNSET
    # The app's own span nests under the request's.
    inner = only([s for s in otel.spans() if s.name == "load item"])
    assert inner.parent is not None and inner.parent.span_id == server.context.span_id
    assert server.end_time is not None and server.start_time is not None
    assert server.end_time > server.start_time

    ((labels, point),) = otel.points(DURATION)
    assert labels == {
        "http.request.method": "GET",
        "http.route": "/items/{item_id:int}",
        "http.response.status_code": 200,
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "gatewatch.interface": "asgi",
    }
    assert point.count == 1
    assert tuple(point.explicit_bounds) == SEMCONV_BOUNDARIES
    ((_, size),) = otel.points("http.server.response.body.size")
    assert size.sum == len(b"item 7\n")
    assert {
        "http.server.active_requests",
        "http.server.request.body.size",
        "gatewatch.http.server.request.blocking.time",
        "gatewatch.http.server.request.time_to_first_byte",
        "gatewatch.http.server.request.after_response.duration",
        "gatewatch.http.server.request.concurrency",
    } <= otel.metric_names()
    ((active_labels, active),) = otel.points("http.server.active_requests")
    assert active.value == 0 and active_labels["http.request.method"] == "GET"


def test_the_query_only_when_asked(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, otel_url_query=True, **otel.options)
    serve_all(wrapped, http_scope("/items/1", query_string=b"page=2"))
    assert only(otel.server_spans()).attributes["url.query"] == "page=2"


def test_the_raw_path_only_when_asked(registry: CollectorRegistry, otel: Otel) -> None:
    """By default no span holds the raw path (issue 26: it may carry personal data)."""
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, otel_url_path=True, **otel.options)
    serve_all(wrapped, http_scope("/items/1"))
    assert only(otel.server_spans()).attributes["url.path"] == "/items/1"
    with pytest.raises(ValueError, match="otel_url_path has no effect without otel=True"):
        GatewatchASGI(starlette_app(otel), registry=registry, otel_url_path=True)


def test_not_found_has_no_route(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    (exchange,) = serve_all(wrapped, http_scope("/nowhere", method="PATCH"))
    assert exchange.status == 404
    server = only(otel.server_spans())
    assert server.name == "PATCH"
    assert "http.route" not in server.attributes
    assert server.attributes["http.response.status_code"] == 404
    assert server.status.status_code is StatusCode.UNSET  # 4xx is the client's error
    ((labels, _),) = otel.points(DURATION)
    assert "http.route" not in labels and labels["http.response.status_code"] == 404


def test_unknown_method_is_other(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    serve_all(wrapped, http_scope("/items/1", method="BREW"))
    server = only(otel.server_spans())
    assert server.attributes["http.request.method"] == "_OTHER"
    assert server.attributes["http.request.method_original"] == "BREW"
    assert server.name.startswith("HTTP")


def test_5xx_response_is_an_error(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    serve_all(wrapped, http_scope("/unavailable"))
    server = only(otel.server_spans())
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["error.type"] == "503"
    ((labels, _),) = otel.points(DURATION)
    assert labels["error.type"] == "503"


def test_exception_is_recorded_and_propagates(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    with pytest.raises(RuntimeError, match="boom"):
        serve_all(wrapped, http_scope("/raise"))
    server = only(otel.server_spans())
    assert server.name == "GET /raise"
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["error.type"] == "RuntimeError"
    assert server.attributes["http.response.status_code"] == 500
    (event,) = [e for e in server.events if e.name == "exception"]
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert event.attributes["exception.message"] == "boom"
    ((labels, _),) = otel.points("gatewatch.http.server.exceptions")
    assert labels == {"gatewatch.interface": "asgi", "http.route": "/raise", "error.type": "RuntimeError"}


@pytest.mark.parametrize("histograms", [None, ("blocking",)], ids=["all", "no-duration"])
def test_fastapi_that_traces_itself_defers_for_what_gatewatch_records(
    registry: CollectorRegistry, otel: Otel, histograms: tuple[str, ...] | None
) -> None:
    # Issue 26: FastAPI's own SERVER span made a second trace, and its instruments doubled
    # gatewatch's. For a request gatewatch records, gatewatch's span is the one SERVER span and
    # FastAPI's spans are under it; a path gatewatch excludes keeps FastAPI's telemetry.
    from fastapi import FastAPI

    app = FastAPI(telemetry={"tracer_provider": otel.tracer_provider, "meter_provider": otel.meter_provider})

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        with app_tracer[0].start_as_current_span("load item"):
            return {"item": item_id}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {}

    app_tracer[:] = [otel.tracer_provider.get_tracer("tests")]
    chosen: dict[str, Any] = {} if histograms is None else {"histograms": histograms}
    wrapped = GatewatchASGI(app, registry=registry, exclude_paths=["/health"], **chosen, **otel.options)
    serve_all(wrapped, http_scope("/items/1"), http_scope("/health"))

    servers = sorted((s.name, getattr(s.instrumentation_scope, "name", "")) for s in otel.server_spans())
    assert servers == [("GET /health", "fastapi"), ("GET /items/{item_id}", "gatewatch")]
    (server,) = [s for s in otel.server_spans() if s.name == "GET /items/{item_id}"]
    spans = {s.name: s for s in otel.spans() if s.context.trace_id == server.context.trace_id}
    assert sorted(spans) == [
        "GET /items/{item_id}",
        "fastapi.dependencies",
        "fastapi.endpoint",
        "fastapi.serialization",
        "load item",
    ]
    assert parent_id(spans["fastapi.endpoint"]) == server.context.span_id
    assert parent_id(spans["load item"]) == spans["fastapi.endpoint"].context.span_id
    durations = sorted((scope, labels["http.route"]) for scope, labels, _ in otel.scoped_points(DURATION))
    # Without gatewatch's duration histogram, FastAPI's is the one.
    recorder = "gatewatch" if histograms is None else "fastapi"
    assert durations == sorted([("fastapi", "/health"), (recorder, "/items/{item_id}")])
    active = {scope for scope, _, _ in otel.scoped_points("http.server.active_requests")}
    assert active == {"gatewatch", "fastapi"}  # FastAPI's: the excluded /health


def test_exception_stack_is_the_interpreters_without_markers() -> None:
    import re
    import traceback

    from gatewatch.export.otel._stacktrace import exception_attributes

    def chained() -> None:
        try:
            try:
                raise KeyError("missing")
            except KeyError:
                raise ValueError("during handling")  # noqa: B904 - a context, not a cause
        except ValueError as exc:
            raise RuntimeError("caused") from exc

    with pytest.raises(RuntimeError) as caught:
        chained()
    exception = caught.value
    attributes = exception_attributes(exception)
    interpreter = "".join(traceback.format_exception(exception))
    without_markers = "".join(
        line for line in interpreter.splitlines(keepends=True) if not re.fullmatch(r"\s*[~^]+\s*", line)
    )
    assert attributes["exception.stacktrace"] == without_markers
    assert "The above exception was the direct cause" in without_markers
    assert "During handling of the above exception" in without_markers
    assert attributes["exception.type"] == "RuntimeError"
    assert attributes["exception.message"] == "caused"


def test_streaming_response(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    (exchange,) = serve_all(wrapped, http_scope("/stream"))
    assert exchange.body == b"chunk\n" * 3
    server = only(otel.server_spans())
    assert server.name == "GET /stream"
    assert server.attributes["http.response.body.size"] == 18
    assert server.attributes["gatewatch.time_to_first_byte"] <= (server.end_time - server.start_time) / 1e9


def test_client_disconnect(registry: CollectorRegistry, otel: Otel) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass

    wrapped = GatewatchASGI(app, registry=registry, **otel.options)
    serve_all(wrapped, http_scope("/long"))
    server = only(otel.server_spans())
    assert server.attributes["gatewatch.client_disconnected"] is True
    assert server.status.status_code is StatusCode.UNSET
    assert "gatewatch.after_response" not in server.attributes
    ((labels, point),) = otel.points("gatewatch.http.server.disconnects")
    assert point.value == 1 and labels == {"gatewatch.interface": "asgi", "http.route": "<unmatched>"}


def test_sync_endpoint_in_a_thread_nests(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    serve_all(wrapped, http_scope("/sync"))
    server = only(otel.server_spans())
    inner = only([s for s in otel.spans() if s.name == "sync work"])
    assert inner.parent is not None and inner.parent.span_id == server.context.span_id


def test_incoming_traceparent_is_the_parent(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    headers = [(b"traceparent", TRACEPARENT.encode()), (b"tracestate", b"vendor=abc")]
    serve_all(wrapped, http_scope("/items/3", headers=headers))
    server = only(otel.server_spans())
    assert server.context.trace_id == TRACE_ID
    assert server.parent is not None and server.parent.span_id == PARENT_ID and server.parent.is_remote
    assert server.context.trace_state.get("vendor") == "abc"
    # Nothing stays current once the request is over.
    assert not trace.get_current_span().get_span_context().is_valid


# -- WebSocket sessions -------------------------------------------------------------------


def test_one_span_per_websocket_session(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(routed(echo), registry=registry, **otel.options)
    run_websocket(wrapped, Session(text("hi"), text("there"), ws_disconnect(1001)), websocket_scope())
    server = only(otel.spans())
    assert server.name == f"WebSocket {ROUTE}"
    assert server.kind is SpanKind.SERVER
    attributes = dict(server.attributes)
    assert attributes["url.scheme"] == "ws"
    assert attributes["http.route"] == ROUTE
    assert attributes["gatewatch.websocket.outcome"] == "accepted"
    assert attributes["gatewatch.websocket.messages.received"] == 2
    assert attributes["gatewatch.websocket.messages.sent"] == 2
    assert attributes["gatewatch.websocket.bytes.received"] == len("hithere")
    assert attributes["gatewatch.websocket.close_code"] == 1001
    assert attributes["gatewatch.websocket.close_initiator"] == "client"
    assert [e.name for e in server.events] == ["websocket.accept", "websocket.close"]
    ((labels, point),) = otel.points("gatewatch.websocket.sessions")
    assert point.value == 1 and labels == {"http.route": ROUTE, "gatewatch.websocket.outcome": "accepted"}
    messages = {tuple(sorted(k.items())): p.value for k, p in otel.points("gatewatch.websocket.messages")}
    assert sum(messages.values()) == 4


# -- WSGI -------------------------------------------------------------------------------------


def test_wsgi_span_is_current_in_the_app_and_never_leaks(registry: CollectorRegistry, otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("tests.wsgi")
    seen: list[int] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(trace.get_current_span().get_span_context().span_id)
        with tracer.start_as_current_span("wsgi work"):
            start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = GatewatchWSGI(app, registry=registry, **otel.options)
    response = call(wrapped, make_environ("/hello", HTTP_TRACEPARENT=TRACEPARENT, HTTP_HOST="web:8000"))
    assert response.body == b"ok"
    assert not trace.get_current_span().get_span_context().is_valid
    server = only(otel.server_spans())
    assert server.name == "GET"
    assert server.context.trace_id == TRACE_ID
    assert seen == [server.context.span_id]
    assert server.attributes["server.address"] == "web" and server.attributes["server.port"] == 8000
    assert server.attributes["gatewatch.interface"] == "wsgi"
    inner = only([s for s in otel.spans() if s.name == "wsgi work"])
    assert inner.parent is not None and inner.parent.span_id == server.context.span_id
    # The next request in the same thread starts a trace of its own.
    call(wrapped, make_environ("/again"))
    second = [s for s in otel.server_spans() if s is not server and s.name == "GET"]
    assert len(second) == 1 and second[0].parent is None


# -- Django -------------------------------------------------------------------------------


def test_django_sync_view_under_asgi_nests(
    settings: Settings, django_registry: CollectorRegistry, otel: Otel
) -> None:
    settings.ROOT_URLCONF = "tests.support.otel_django"
    otel_django.provider = otel.tracer_provider
    wrapped = GatewatchASGI(get_asgi_application(), **otel.options)

    async def drive() -> Exchange:
        exchange = Exchange()
        never = asyncio.Event()

        async def wait_forever() -> dict[str, str]:
            await never.wait()
            return {"type": "http.disconnect"}

        # The client stays connected after the response, as a real one does.
        exchange.wait_forever = wait_forever
        return await serve(wrapped, http_scope("/things/5/", headers=[(b"host", b"localhost")]), exchange)

    exchange = asyncio.run(drive())
    assert exchange.status == 200
    server = only(otel.server_spans())
    assert server.name == "GET /things/<int:pk>/"
    assert server.attributes["gatewatch.view"] == "tests.support.otel_django.traced_view"
    assert server.attributes["gatewatch.view_kind"] == "sync"
    assert server.attributes["gatewatch.thread_hops"] >= 1
    inner = only([s for s in otel.spans() if s.name == "view work"])
    assert inner.parent is not None and inner.parent.span_id == server.context.span_id


def test_django_middleware_alone_under_wsgi(
    settings: Settings, django_registry: CollectorRegistry, otel: Otel
) -> None:
    from django.test import Client

    settings.ROOT_URLCONF = "tests.support.otel_django"
    settings.GATEWATCH = {**settings.GATEWATCH, "OTEL": True, "TRACER_PROVIDER": otel.tracer_provider}
    settings.GATEWATCH["METER_PROVIDER"] = otel.meter_provider
    otel_django.provider = otel.tracer_provider
    response = Client().get("/things/9/", HTTP_TRACEPARENT=TRACEPARENT)
    assert response.status_code == 200
    response.close()
    server = only(otel.server_spans())
    assert server.name == "GET /things/<int:pk>/"
    assert server.context.trace_id == TRACE_ID
    inner = only([s for s in otel.spans() if s.name == "view work"])
    assert inner.parent is not None and inner.parent.span_id == server.context.span_id
    assert not trace.get_current_span().get_span_context().is_valid


# -- exemplars ------------------------------------------------------------------------------


def test_exemplars_in_the_openmetrics_scrape(registry: CollectorRegistry, otel: Otel) -> None:
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    serve_all(wrapped, http_scope("/items/1"), http_scope("/items/2"))
    server = otel.server_spans()[-1]
    text = openmetrics(registry)
    exemplar = f'# {{span_id="{server.context.span_id:016x}",trace_id="{server.context.trace_id:032x}"}}'
    lines = [line for line in text.splitlines() if exemplar in line]
    assert len(lines) == 1, text
    assert lines[0].startswith("gatewatch_http_request_duration_seconds_bucket{")
    # prometheus-client's OpenMetrics parser (strict) reads it back on that bucket.
    (family,) = [f for f in openmetrics_families(text) if f.name == "gatewatch_http_request_duration_seconds"]
    carried = [s.exemplar.labels["trace_id"] for s in family.samples if s.exemplar is not None]
    # Each bucket carries its latest request's exemplar: the two requests share one bucket, or
    # (on a loaded machine) the first one fell into a slower bucket of its own.
    traces = [f"{span.context.trace_id:032x}" for span in otel.server_spans()]
    assert traces[-1] in carried
    assert set(carried) <= set(traces) and 1 <= len(carried) <= 2
    # The classic text format carries none.
    from prometheus_client import generate_latest

    assert "trace_id" not in generate_latest(registry).decode()


def test_exemplars_pass_promtool(registry: CollectorRegistry, otel: Otel, tmp_path: Path) -> None:
    """promtool 2.42's ``check metrics`` reads the text format only: it lints this scrape's
    families, and its OpenMetrics parser (``tsdb create-blocks-from openmetrics``, which wants a
    timestamp on every sample) reads the exemplars."""
    promtool = promtool_path(required=True)
    assert promtool is not None
    wrapped = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    serve_all(wrapped, *(http_scope(f"/items/{n}") for n in range(5)), http_scope("/unavailable"))
    from prometheus_client import generate_latest

    check_metrics(generate_latest(registry).decode())
    text = openmetrics(registry)
    assert text.count("trace_id=") >= 2
    stamped = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            sample, marker, exemplar = line.partition(" # ")
            line = f"{sample} 1700000000{marker}{exemplar}"
        stamped.append(line)
    source = tmp_path / "scrape.om"
    source.write_text("\n".join(stamped) + "\n")
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tmp_path / "blocks")],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode()


# -- configuration --------------------------------------------------------------------------


def test_off_changes_nothing(registry: CollectorRegistry) -> None:
    app = starlette_app(in_memory())
    wrapped = GatewatchASGI(app, registry=registry)
    assert wrapped.app is app and not wrapped.options.otel

    def wsgi_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return []

    assert GatewatchWSGI(wsgi_app, registry=CollectorRegistry()).app is wsgi_app


def test_switched_on_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWATCH_OTEL", "true")
    monkeypatch.setenv("GATEWATCH_OTEL_URL_QUERY", "yes")
    options = layered({})
    assert options.otel and options.otel_url_query


def test_bad_otel_options() -> None:
    with pytest.raises(TypeError, match="tracer_provider must be an OpenTelemetry TracerProvider"):
        Options(otel=True, tracer_provider="global")
    with pytest.raises(ValueError, match="meter_provider has no effect without otel=True"):
        layered({"meter_provider": in_memory().meter_provider})


def test_one_export_per_monitor(registry: CollectorRegistry, otel: Otel) -> None:
    first = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    second = GatewatchASGI(starlette_app(otel), registry=registry, **otel.options)
    assert first.monitor is second.monitor
    with pytest.raises(ValueError, match="conflict with the OpenTelemetry export"):
        GatewatchASGI(starlette_app(otel), registry=registry, otel=True)
