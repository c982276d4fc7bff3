"""gatewatch's spans beyond ASGI HTTP: one span per WebSocket session, WSGI, Django."""

from __future__ import annotations

import asyncio

from django.core.asgi import get_asgi_application
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from pytest_django.fixtures import Settings

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.types import Environ, StartResponse
from tests.support import otel_django
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.django_support import django_registry
from tests.support.otel import Otel
from tests.support.websocket_driver import ROUTE, Session, echo, routed, text, websocket_scope
from tests.support.websocket_driver import disconnect as ws_disconnect
from tests.support.websocket_driver import run as run_websocket
from tests.support.wsgi_driver import call, make_environ

__all__ = ["django_registry"]

from tests.support.otel_apps import TRACE_ID, TRACEPARENT, only

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
