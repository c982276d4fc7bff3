"""OpenTelemetry export in process: spans and metrics through in-memory providers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.options import Options, layered
from gatewatch.types import Environ, StartResponse
from tests.support.asgi_driver import http_scope
from tests.support.django_support import django_registry
from tests.support.otel import Otel, in_memory
from tests.support.promtool import check_metrics, promtool_path

__all__ = ["django_registry"]

from tests.support.otel_apps import (
    DURATION,
    PARENT_ID,
    SEMCONV_BOUNDARIES,
    TRACE_ID,
    TRACEPARENT,
    app_tracer,
    only,
    openmetrics,
    openmetrics_families,
    parent_id,
    serve_all,
    starlette_app,
)

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
