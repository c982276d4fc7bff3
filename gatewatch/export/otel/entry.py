"""Where a request's span starts and becomes current: around the application, in the
request's own context, after the middleware created its record.

- ASGI (:class:`TracedASGI`): called by ``GatewatchASGI`` (or ``serve_websocket``) inside the
  request's task; it starts the span, attaches it, and returns the application's coroutine.
  The monitor's ``request_finished`` / ``session_finished`` hook detaches it: the middleware
  calls that hook from its ``finally``, in the same context, after the application returned.
  Nothing of it runs inside the application's coroutine, so it is not counted as time the
  request held the loop, and it adds no frame to every step of that coroutine.
- WSGI (:class:`TracedWSGI`) and Django's middleware alone (:func:`traced_get_response`):
  attached and detached around the application call in one ``try``/``finally``, so a worker
  thread's context never keeps a span into its next request.

Contexts reach what the application starts: tasks copy it, and asgiref's ``sync_to_async`` and
anyio's ``to_thread`` run sync code in a copy of it, so Django views and sync endpoints nest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from gatewatch.export.otel._fastapi import settle as settle_fastapi
from gatewatch.export.otel.attributes import ENVIRON_GETTER, asgi_attributes, asgi_headers, environ_attributes
from gatewatch.export.otel.sink import OtelSink, _span_method
from gatewatch.record import RequestRecord, WebSocketRecord, current_record
from gatewatch.types import ASGIApp, Environ, Receive, Scope, Send, StartResponse, WSGIApp


class TracedASGI:
    """``app`` called with the span of the request gatewatch is recording made current."""

    def __init__(self, app: ASGIApp, sink: OtelSink) -> None:
        self.app = app
        self.sink = sink
        # A framework that traces itself (FastAPI) defers to this span and these instruments.
        settle_fastapi(app, sink)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[Any]:
        record = current_record.get()
        if record is not None and record not in self.sink.spans:
            kind = scope["type"]
            # Only the record its middleware made for this very call: not one an outer layer
            # left current (an excluded path, a nested app).
            if (kind == "http" and record.scope is scope) or (
                kind == "websocket" and isinstance(record, WebSocketRecord) and not record.outcome
            ):
                try:
                    self._enter(record, scope, websocket=kind == "websocket")
                except Exception as exc:  # noqa: BLE001 - tracing must never stop the request
                    self.sink.spans.pop(record, None)
                    self.sink.monitor.report_internal_error("otel.start", exc)
        return self.app(scope, receive, send)

    def _enter(self, record: RequestRecord, scope: Scope, *, websocket: bool) -> None:
        sink = self.sink
        headers = asgi_headers(scope)
        parent = propagate.extract(headers)
        attributes = asgi_attributes(
            scope, record.method, headers, url_query=sink.url_query, url_path=sink.url_path
        )
        traced = sink.start_span(
            record, parent, attributes, "WebSocket" if websocket else _span_method(record)
        )
        traced.token = otel_context.attach(trace.set_span_in_context(traced.span, parent))


class TracedWSGI:
    """``app`` called with the span of the request gatewatch is recording made current."""

    def __init__(self, app: WSGIApp, sink: OtelSink) -> None:
        self.app = app
        self.sink = sink

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        record = current_record.get()
        if record is None or record.finished or record in self.sink.spans:
            return self.app(environ, start_response)
        token = _enter_environ(self.sink, record, environ, interface="wsgi", scheme=None)
        if token is None:
            return self.app(environ, start_response)
        try:
            return self.app(environ, start_response)
        finally:
            otel_context.detach(token)


def _enter_environ(
    sink: OtelSink, record: RequestRecord, environ: Environ, *, interface: str, scheme: str | None
) -> Token[otel_context.Context] | None:
    """Start ``record``'s span from a WSGI environ (or Django's META) and attach it; the token,
    or None if that failed (counted as an internal error)."""
    try:
        parent = propagate.extract(environ, getter=ENVIRON_GETTER)
        attributes = environ_attributes(
            environ,
            record.method,
            interface=interface,
            scheme=scheme,
            url_query=sink.url_query,
            url_path=sink.url_path,
        )
        traced = sink.start_span(record, parent, attributes, _span_method(record))
        return otel_context.attach(trace.set_span_in_context(traced.span, parent))
    except Exception as exc:  # noqa: BLE001 - tracing must never stop the request
        sink.spans.pop(record, None)
        sink.monitor.report_internal_error("otel.start", exc)
        return None


def traced_get_response(
    get_response: Callable[[Any], Any], sink_of: Callable[[], OtelSink | None], *, is_async: bool
) -> Callable[[Any], Any]:
    """Django's ``get_response`` with the span of the request the middleware records alone
    made current (sync or async, as the handler is)."""

    def enter(request: Any) -> Token[otel_context.Context] | None:
        record = current_record.get()
        sink = sink_of()
        if record is None or sink is None or record in sink.spans:
            return None
        return _enter_environ(sink, record, request.META, interface=record.interface, scheme=request.scheme)

    if is_async:

        async def traced_async(request: Any) -> Any:
            token = enter(request)
            try:
                return await get_response(request)
            finally:
                if token is not None:
                    otel_context.detach(token)

        return traced_async

    def traced_sync(request: Any) -> Any:
        token = enter(request)
        try:
            return get_response(request)
        finally:
            if token is not None:
                otel_context.detach(token)

    return traced_sync
