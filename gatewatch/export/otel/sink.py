"""OpenTelemetry export: one SERVER span per request (and per WebSocket session), and the
catalogue's metrics under their OpenTelemetry names (:mod:`gatewatch.export.otel._metrics`, fed
the measurements of :mod:`gatewatch._measure`).

The spans are started by the entry points in :mod:`gatewatch.export.otel.entry` (they need the
request's headers and must be current while the application runs) and ended here, from the
monitor's hooks, with the record's final numbers.
"""

from __future__ import annotations

from asyncio.events import _get_running_loop
from collections.abc import Callable
from time import perf_counter, time_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from gatewatch import _measure as m
from gatewatch._histogram import HistogramChoice
from gatewatch.export.otel._metrics import NO_EXEMPLAR, SCOPE_NAME, OtelMetrics
from gatewatch.export.otel._stacktrace import exception_attributes
from gatewatch.export.otel.attributes import http_metric_attributes
from gatewatch.monitor import Monitor, Sink
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.version import VERSION

# HTTP metric attribute sets kept ready; past this many, built per request.
_MAX_CACHED = 4096

ExemplarHook = Callable[[RequestRecord, str, str], None]


class Traced:
    """A span in flight: its start on the wall clock, and the context token to detach (ASGI)."""

    __slots__ = ("scheme", "span", "start_ns", "token", "version")

    def __init__(self, span: Span, start_ns: int, scheme: str, version: str | None) -> None:
        self.span = span
        self.start_ns = start_ns
        self.token: object = None
        self.scheme = scheme
        self.version = version


def _ns(traced: Traced, record: RequestRecord, at: float | None) -> int:
    """A perf_counter() reading of ``record`` on the span's wall clock (ns)."""
    return traced.start_ns + int(((at if at is not None else perf_counter()) - record.start) * 1e9)


class OtelSink(Sink):
    def __init__(
        self,
        monitor: Monitor,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        url_query: bool = False,
        url_path: bool = False,
        histograms: HistogramChoice,
        duration_buckets: tuple[float, ...] | None = None,
    ) -> None:
        self.monitor = monitor
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.url_query = url_query
        self.url_path = url_path
        self.histograms = histograms
        self.tracer = trace.get_tracer(SCOPE_NAME, VERSION, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE_NAME, VERSION, meter_provider=meter_provider)
        # Spans alone (meter_provider=NoOpMeterProvider()): the request records no metric.
        self._metrics = not isinstance(meter_provider, metrics.NoOpMeterProvider)
        self.meter = meter
        # record -> its span, from the entry point until the request is over.
        self.spans: dict[RequestRecord, Traced] = {}
        # Set by the hub when a single-process Prometheus aggregator shares the monitor.
        self.exemplars: ExemplarHook | None = None
        self._http_attributes: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.metrics = OtelMetrics(meter, monitor, histograms, duration_buckets, meter_provider)

    def exports(self, name: str) -> bool:
        """Whether this sink records the metric of OpenTelemetry name ``name`` (a no-op meter
        provider records none; ``histograms=`` may leave the duration out)."""
        return self._metrics and name in self.metrics.names

    # -- spans ------------------------------------------------------------------------

    def start_span(
        self, record: RequestRecord, parent: otel_context.Context, attributes: dict[str, Any], name: str
    ) -> Traced:
        """Start ``record``'s span (child of ``parent``) and keep it until the record is over;
        the caller makes it current."""
        now_ns, now = time_ns(), perf_counter()
        start_ns = now_ns - int((now - record.start) * 1e9)
        span = self.tracer.start_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes, start_time=start_ns
        )
        traced = Traced(span, start_ns, attributes["url.scheme"], attributes.get("network.protocol.version"))
        self.spans[record] = traced
        return traced

    def _end_http_span(self, record: RequestRecord, traced: Traced) -> None:
        span = traced.span
        if span.is_recording():
            route = record.route
            # One set_attributes (each SDK call takes the span's lock); http.route first, as
            # it always was.
            attributes: dict[str, Any] = {} if route is None else {"http.route": route}
            if route is not None:
                span.update_name(f"{_span_method(record)} {route}")
            attributes |= {
                "gatewatch.blocking": record.blocking,
                "gatewatch.longest_step": record.longest_step,
                "gatewatch.concurrency_at_arrival": record.concurrency,
                "http.request.body.size": record.request_bytes,
                "http.response.body.size": record.response_bytes,
            }
            if record.status:
                attributes["http.response.status_code"] = record.status
            if record.cpu is not None:
                attributes["gatewatch.cpu"] = record.cpu
            if record.first_byte is not None:
                attributes["gatewatch.time_to_first_byte"] = record.first_byte - record.start
            if record.offload is not None:
                attributes["gatewatch.offload"] = record.offload
                attributes["gatewatch.offload_queue"] = record.offload_queue
                attributes["gatewatch.thread_hops"] = record.thread_hops
            if record.queue is not None:
                attributes["gatewatch.queue"] = record.queue
            if record.view is not None:
                attributes["gatewatch.view"] = record.view
                attributes["gatewatch.view_kind"] = record.view_kind
            if record.disconnected:
                attributes["gatewatch.client_disconnected"] = True
            if record.after_response is not None:
                attributes["gatewatch.after_response"] = record.after_response
            span.set_attributes(attributes)
            _finish_status(span, record, record.status if not record.disconnected else 0)
            _block_events(span, record)
        if self.exemplars is not None:
            span_context = span.get_span_context()
            if span_context.trace_flags.sampled:
                self.exemplars(record, f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}")

    # -- Sink: HTTP -------------------------------------------------------------------

    def request_finished(self, record: RequestRecord) -> None:
        traced = self.spans.get(record)
        if traced is not None and traced.token is not None:
            # The ASGI entry attached it in the middleware's context; this hook runs in the
            # same one (the middleware's finally), after the application returned.
            token, traced.token = traced.token, None
            otel_context.detach(token)  # type: ignore[arg-type]
        loop = _get_running_loop() if record.exception is not None else None
        if loop is None:
            self._export_http(record, traced)
        else:
            # The app's exception is on its way to the server, which acts on it in this very
            # step: uvicorn closes the connection once a response has started, and asyncio and
            # uvloop shut the socket on the loop's next turn. Exporting before that (the span's
            # exception formatted, the processor's on_end, under SimpleSpanProcessor the export
            # itself, and a dozen SDK measurements) held the close back long enough for a
            # keep-alive client to send its next request into a connection about to close
            # (issue 26). It is done a turn later instead (scheduled from the next turn), with
            # the numbers the record holds now.
            loop.call_soon(loop.call_soon, self._export_later, record, traced)

    def _export_http(self, record: RequestRecord, traced: Traced | None) -> None:
        if traced is not None:
            self._end_http_span(record, traced)
            self._close(record, traced, None)
        if self._metrics:
            self._record_http(record, traced)

    def _export_later(self, record: RequestRecord, traced: Traced | None) -> None:
        try:
            self._export_http(record, traced)
        except Exception as exc:  # noqa: BLE001 - the monitor's guard is not around a callback
            self.monitor.report_internal_error("sink.request_finished", exc)

    def _close(self, record: RequestRecord, traced: Traced, at: float | None) -> None:
        self.spans.pop(record, None)
        end = record.end if at is None else at
        traced.span.end(end_time=_ns(traced, record, end))

    def _record_http(self, record: RequestRecord, traced: Traced | None) -> None:
        metrics = self.metrics
        own = metrics.own
        if own is None and metrics.per_request is None:
            own = metrics.resolve()
        if own is not None:
            # Added up by gatewatch, read when a reader collects (gatewatch.export.otel._histograms).
            own.add(record, traced)
            return
        # The HTTP conventions' attributes, for their http.server.* histograms.
        context = NO_EXEMPLAR if traced is None else trace.set_span_in_context(traced.span)
        status = 0 if record.disconnected else (record.status or 500)
        key = (
            record.interface,
            record.method,
            record.route_label if record.route is not None else None,
            status,
            traced.scheme if traced is not None else None,
            traced.version if traced is not None else None,
            record.exception_label,
        )
        attributes = self._http_attributes.get(key)
        if attributes is None:
            attributes = http_metric_attributes(*key)
            if len(self._http_attributes) < _MAX_CACHED:
                self._http_attributes[key] = attributes
        measured = m.measure_request(record, self.monitor.worker_threads)
        self.metrics.record_request(measured, attributes, context)

    # -- Sink: WebSocket sessions -----------------------------------------------------

    def session_accepted(self, record: WebSocketRecord) -> None:
        traced = self.spans.get(record)
        if traced is not None:
            traced.span.add_event("websocket.accept", timestamp=_ns(traced, record, record.accepted_at))

    def session_finished(self, record: WebSocketRecord) -> None:
        if self._metrics:
            self.metrics.record(m.measure_session(record))
        duration = record.session_duration
        traced = self.spans.pop(record, None)
        if traced is None:
            return
        if traced.token is not None:
            otel_context.detach(traced.token)  # type: ignore[arg-type]
            traced.token = None
        span = traced.span
        if span.is_recording():
            if record.route is not None:
                span.set_attribute("http.route", record.route)
                span.update_name(f"WebSocket {record.route}")
            attributes: dict[str, Any] = {
                "gatewatch.websocket.outcome": record.outcome,
                "gatewatch.blocking": record.blocking,
                "gatewatch.longest_step": record.longest_step,
                "gatewatch.websocket.messages.received": record.received_text + record.received_binary,
                "gatewatch.websocket.messages.sent": record.sent_text + record.sent_binary,
                "gatewatch.websocket.bytes.received": record.received_bytes,
                "gatewatch.websocket.bytes.sent": record.sent_bytes,
            }
            if record.status:
                attributes["http.response.status_code"] = record.status
            if record.initiator:
                attributes["gatewatch.websocket.close_initiator"] = record.initiator
            if record.close_code is not None:
                attributes["gatewatch.websocket.close_code"] = record.close_code
            if duration is not None:
                attributes["gatewatch.websocket.duration"] = duration
            span.set_attributes(attributes)
            if record.closed_at is not None and record.accepted_at is not None:
                event: dict[str, Any] = {"gatewatch.websocket.close_initiator": record.initiator}
                if record.close_code is not None:
                    event["gatewatch.websocket.close_code"] = record.close_code
                span.add_event("websocket.close", event, timestamp=_ns(traced, record, record.closed_at))
            _finish_status(span, record, record.status)
            _block_events(span, record)
        span.end(end_time=_ns(traced, record, record.end))

    # -- Sink: the loop and the worker threads -----------------------------------------

    def loop_lag(self, seconds: float) -> None:
        self.metrics.record(m.measure_lag(seconds))

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        self.metrics.record(m.measure_block(route, duration))

    def worker_threads_known(self, threads: int) -> None:
        self.metrics.record(m.capacity_known())


def _span_method(record: RequestRecord) -> str:
    # The conventions name a span of an unknown method "HTTP".
    return "HTTP" if record.method == "_OTHER" else record.method


def _finish_status(span: Span, record: RequestRecord, status: int) -> None:
    exception = record.exception
    if exception is not None:
        # The SDK's record_exception, without its costly ^^^ markers (gatewatch.export.otel._stacktrace).
        span.add_event("exception", exception_attributes(exception))
        span.set_attribute("error.type", record.exception_label or type(exception).__qualname__)
        span.set_status(Status(StatusCode.ERROR, f"{type(exception).__qualname__}: {exception}"))
    elif status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
    elif status == 0 and not record.disconnected and not isinstance(record, WebSocketRecord):
        # The app returned without starting a response: the server answers 500.
        span.set_attribute("http.response.status_code", 500)
        span.set_attribute("error.type", "500")
        span.set_status(Status(StatusCode.ERROR))


def _block_events(span: Span, record: RequestRecord) -> None:
    for seconds, stack in record.loop_blocks or ():
        attributes: dict[str, Any] = {"gatewatch.blocked": seconds}
        if stack:
            attributes["code.stacktrace"] = "\n".join(stack)
        span.add_event("gatewatch.loop_block", attributes)
