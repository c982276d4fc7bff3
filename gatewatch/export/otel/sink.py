"""OpenTelemetry export: one SERVER span per request (and per WebSocket session), and the
catalogue's metrics under their OpenTelemetry names.

The spans are started by the entry points in :mod:`gatewatch.export.otel.entry` (they need the
request's headers and must be current while the application runs) and ended here, from the
monitor's hooks, with the record's final numbers. Histograms are recorded per request through
the SDK's instruments; counters and gauges are added up here (a few additions under a lock)
and read by observable instruments when a reader collects, so they cost the request nothing
more.
"""

from __future__ import annotations

import threading
from asyncio.events import _get_running_loop
from collections import deque
from collections.abc import Callable, Iterable
from time import perf_counter, time_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from gatewatch import catalogue as c
from gatewatch._histogram import HistogramChoice
from gatewatch.export.otel._stacktrace import exception_attributes
from gatewatch.monitor import Monitor, Sink
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.version import VERSION

SCOPE_NAME = "gatewatch"
# The HTTP semantic conventions' advice for http.server.request.duration (seconds).
DURATION_BOUNDARIES = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Body sizes, bytes: 0 up to 100 MB.
SIZE_BOUNDARIES = (0.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
# Attribute sets kept ready per label combination; past this many, built per request.
_MAX_CACHED = 4096
# Loop-lag samples kept for the nodejs.eventloop.delay-shaped gauges (about a minute at 0.1 s).
_LAG_SAMPLES = 600
MAX_CLOSE_CODES = 64

# Instruments recorded whenever metrics are (the other histograms follow histograms=).
_EXPORTED_ALWAYS = frozenset(
    c.metric(key).otel_name for key in ("in_flight", "request_bytes", "response_bytes")
)
_DURATION_NAME = c.metric("duration").otel_name

ExemplarHook = Callable[[RequestRecord, str, str], None]
# A context without a span: the SDK's trace-based exemplar filter then offers nothing.
_NO_EXEMPLAR = otel_context.Context()


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
        self._lock = threading.Lock()
        self._http_attributes: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._route_attributes: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._counts: dict[str, dict[tuple[Any, ...], float]] = {
            key: {}
            for key in (
                "exceptions",
                "disconnects",
                "thread_hops",
                "saturated",
                "loop_blocks",
                "loop_blocked",
                "websocket_sessions",
                "websocket_messages",
                "websocket_bytes",
                "websocket_closes",
                "websocket_exceptions",
            )
        }
        self._views: dict[tuple[str, str], tuple[str, str]] = {}
        self._lag: deque[float] = deque(maxlen=_LAG_SAMPLES)

        def histogram(key: str, bounds: Iterable[float] | None = None) -> Any:
            spec = c.metric(key)
            if spec.kind == "histogram":
                chosen = histograms.bounds(key)
                if chosen is None:
                    return None
                bounds = chosen if bounds is None else bounds
            return meter.create_histogram(
                spec.otel_name,
                unit=spec.otel_unit,
                description=spec.help,
                explicit_bucket_boundaries_advisory=list(bounds or ()),
            )

        self._duration = histogram("duration", duration_buckets or DURATION_BOUNDARIES)
        self._request_size = histogram("request_bytes", SIZE_BOUNDARIES)
        self._response_size = histogram("response_bytes", SIZE_BOUNDARIES)
        self._blocking = histogram("blocking")
        self._cpu = histogram("cpu")
        self._ttfb = histogram("ttfb")
        self._after_response = histogram("after_response")
        self._offload = histogram("offload")
        self._offload_queue = histogram("offload_queue")
        self._queue = histogram("queue")
        self._concurrency = histogram("concurrency")
        self._loop_lag = histogram("loop_lag")
        self._ws_duration = histogram("websocket_duration")
        self._ws_blocking = histogram("websocket_blocking")

        def observable(
            kind: str, key: str, callback: Callable[[CallbackOptions], Iterable[Observation]]
        ) -> None:
            spec = c.metric(key)
            create = {
                "counter": meter.create_observable_counter,
                "updown": meter.create_observable_up_down_counter,
                "gauge": meter.create_observable_gauge,
            }[kind]
            create(spec.otel_name, callbacks=[callback], unit=spec.otel_unit, description=spec.help)

        for key in self._counts:
            observable("counter", key, self._count_callback(key))
        observable("updown", "in_flight", self._observe_in_flight)
        observable("updown", "websocket_active", self._observe_websockets)
        observable("counter", "internal_errors", self._observe_internal_errors)
        observable("gauge", "info", self._observe_info)
        observable("gauge", "route_view", self._observe_views)
        observable("updown", "workers_busy", self._observe_busy)
        observable("updown", "workers_capacity", self._observe_capacity)
        for stat in ("min", "max", "mean", "p50", "p90", "p99"):
            meter.create_observable_gauge(
                f"{c.metric('loop_lag').otel_name}.{stat}",
                callbacks=[self._lag_callback(stat)],
                unit="s",
                description=f"Event-loop lag over the last {_LAG_SAMPLES} samples: {stat} (Node.js' shape).",
            )

    def exports(self, name: str) -> bool:
        """Whether this sink records the metric of OpenTelemetry name ``name`` (a no-op meter
        provider records none; ``histograms=`` may leave the duration out)."""
        if not self._metrics:
            return False
        if name == _DURATION_NAME:
            return self._duration is not None
        return name in _EXPORTED_ALWAYS

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
            if route is not None:
                span.set_attribute("http.route", route)
                span.update_name(f"{_span_method(record)} {route}")
            attributes: dict[str, Any] = {
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
        if record.after_response is not None:
            self._add_after_response(record, traced)
        if traced is not None:
            self._close(record, traced, None)
        if self._metrics:
            self._record_http(record, traced)

    def _export_later(self, record: RequestRecord, traced: Traced | None) -> None:
        try:
            self._export_http(record, traced)
        except Exception as exc:  # noqa: BLE001 - the monitor's guard is not around a callback
            self.monitor.report_internal_error("sink.request_finished", exc)

    def _add_after_response(self, record: RequestRecord, traced: Traced | None) -> None:
        after = record.after_response or 0.0
        if self._after_response is not None:
            self._after_response.record(after, self._route_attrs(record), _NO_EXEMPLAR)
        if record.after_exception_label:
            self._add("exceptions", (record.interface, record.route_label, record.after_exception_label))
        if traced is not None:
            traced.span.set_attribute("gatewatch.after_response", after)

    def _close(self, record: RequestRecord, traced: Traced, at: float | None) -> None:
        self.spans.pop(record, None)
        end = record.end if at is None else at
        traced.span.end(end_time=_ns(traced, record, end))

    def _record_http(self, record: RequestRecord, traced: Traced | None) -> None:
        # The request's trace rides on the duration histogram only, as the SDK's exemplar: offering
        # one to every instrument costs several µs each.
        context = _NO_EXEMPLAR if traced is None else trace.set_span_in_context(traced.span)
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
            attributes = _http_metric_attributes(*key)
            if len(self._http_attributes) < _MAX_CACHED:
                self._http_attributes[key] = attributes
        if self._duration is not None:
            self._duration.record(record.duration, attributes, context)
        self._request_size.record(record.request_bytes, attributes, _NO_EXEMPLAR)
        self._response_size.record(record.response_bytes, attributes, _NO_EXEMPLAR)
        route_attributes = self._route_attrs(record)
        if self._blocking is not None:
            self._blocking.record(record.blocking, route_attributes, _NO_EXEMPLAR)
        if self._cpu is not None and record.cpu is not None:
            self._cpu.record(record.cpu, route_attributes, _NO_EXEMPLAR)
        if self._ttfb is not None and record.first_byte is not None:
            self._ttfb.record(record.first_byte - record.start, route_attributes, _NO_EXEMPLAR)
        interface = {"gatewatch.interface": record.interface}
        if self._concurrency is not None:
            self._concurrency.record(record.concurrency, interface, _NO_EXEMPLAR)
        if record.queue is not None and self._queue is not None:
            self._queue.record(record.queue, interface, _NO_EXEMPLAR)
        if record.offload is not None:
            if self._offload is not None:
                self._offload.record(record.offload, route_attributes, _NO_EXEMPLAR)
            if self._offload_queue is not None:
                self._offload_queue.record(record.offload_queue, route_attributes, _NO_EXEMPLAR)
            self._add(
                "thread_hops", (record.interface, record.method, record.route_label), record.thread_hops
            )
        if record.exception is not None:
            self._add("exceptions", (record.interface, record.route_label, record.exception_label))
        if record.disconnected:
            self._add("disconnects", (record.interface, record.route_label))
        if record.view is not None:
            self._views[(record.interface, record.route_label)] = (record.view, record.view_kind)
        if record.interface == "wsgi":
            threads = self.monitor.worker_threads
            if threads is not None and record.concurrency + 1 >= threads:
                self._add("saturated", ())

    def _route_attrs(self, record: RequestRecord) -> dict[str, Any]:
        key = (record.interface, record.method, record.route_label)
        attributes = self._route_attributes.get(key)
        if attributes is None:
            attributes = {
                "gatewatch.interface": key[0],
                "http.request.method": key[1],
                "http.route": key[2],
            }
            if len(self._route_attributes) < _MAX_CACHED:
                self._route_attributes[key] = attributes
        return attributes

    def _add(self, key: str, labels: tuple[Any, ...], amount: float = 1) -> None:
        counts = self._counts[key]
        with self._lock:
            counts[labels] = counts.get(labels, 0) + amount

    # -- Sink: WebSocket sessions -----------------------------------------------------

    def session_accepted(self, record: WebSocketRecord) -> None:
        traced = self.spans.get(record)
        if traced is not None:
            traced.span.add_event("websocket.accept", timestamp=_ns(traced, record, record.accepted_at))

    def session_finished(self, record: WebSocketRecord) -> None:
        route = record.route_label
        self._add("websocket_sessions", (route, record.outcome))
        duration = record.session_duration
        if duration is not None:
            if self._ws_duration is not None:
                self._ws_duration.record(duration, {"http.route": route})
            code = _close_code(record.close_code)
            closes = self._counts["websocket_closes"]
            if (route, code, record.initiator) not in closes and len(closes) >= MAX_CLOSE_CODES * 8:
                code = "other"
            self._add("websocket_closes", (route, code, record.initiator))
        if self._ws_blocking is not None:
            self._ws_blocking.record(record.blocking, {"http.route": route})
        with self._lock:
            messages, payload = self._counts["websocket_messages"], self._counts["websocket_bytes"]
            for labels, count in (
                ((route, "received", "text"), record.received_text),
                ((route, "received", "binary"), record.received_binary),
                ((route, "sent", "text"), record.sent_text),
                ((route, "sent", "binary"), record.sent_binary),
            ):
                messages[labels] = messages.get(labels, 0) + count
            for direction, count in (("received", record.received_bytes), ("sent", record.sent_bytes)):
                payload[(route, direction)] = payload.get((route, direction), 0) + count
        if record.exception is not None:
            self._add("websocket_exceptions", (route, record.exception_label))
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

    # -- Sink: the loop ---------------------------------------------------------------

    def loop_lag(self, seconds: float) -> None:
        self._lag.append(seconds)
        if self._loop_lag is not None:
            self._loop_lag.record(seconds, None, _NO_EXEMPLAR)

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        with self._lock:
            blocks, blocked = self._counts["loop_blocks"], self._counts["loop_blocked"]
            blocks[(route,)] = blocks.get((route,), 0) + 1
            blocked[(route,)] = blocked.get((route,), 0) + duration

    # -- observable instruments -------------------------------------------------------

    def _count_callback(self, key: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        names = _COUNT_ATTRIBUTES[key]

        def callback(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                items = list(self._counts[key].items())
            return [Observation(value, dict(zip(names, labels, strict=True))) for labels, value in items]

        return callback

    def _observe_in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(count, {"gatewatch.interface": interface, "http.request.method": method})
            for (interface, method), count in sorted(self.monitor.in_flight().items())
        ]

    def _observe_websockets(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {"http.route": route}) for route, n in self.monitor.sessions.active().items()]

    def _observe_internal_errors(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.monitor.internal_errors)]

    def _observe_info(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(1, {"gatewatch.version": VERSION, "gatewatch.interface": i, "gatewatch.server": s})
            for i, s in sorted(self.monitor.servers.items())
        ]

    def _observe_views(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(
                1, {"gatewatch.interface": i, "http.route": r, "gatewatch.view": v, "gatewatch.view_kind": k}
            )
            for (i, r), (v, k) in list(self._views.items())
        ]

    def _observe_busy(self, options: CallbackOptions) -> Iterable[Observation]:
        busy = self.monitor.in_flight_of("wsgi")
        return [] if busy is None else [Observation(busy)]

    def _observe_capacity(self, options: CallbackOptions) -> Iterable[Observation]:
        threads = self.monitor.worker_threads
        return [] if threads is None or self.monitor.in_flight_of("wsgi") is None else [Observation(threads)]

    def _lag_callback(self, stat: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            samples = sorted(self._lag)
            if not samples:
                return []
            if stat == "min":
                value = samples[0]
            elif stat == "max":
                value = samples[-1]
            elif stat == "mean":
                value = sum(samples) / len(samples)
            else:
                value = samples[min(len(samples) - 1, int(len(samples) * int(stat[1:]) / 100))]
            return [Observation(value)]

        return callback


_COUNT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "exceptions": ("gatewatch.interface", "http.route", "error.type"),
    "disconnects": ("gatewatch.interface", "http.route"),
    "thread_hops": ("gatewatch.interface", "http.request.method", "http.route"),
    "saturated": (),
    "loop_blocks": ("http.route",),
    "loop_blocked": ("http.route",),
    "websocket_sessions": ("http.route", "gatewatch.websocket.outcome"),
    "websocket_messages": ("http.route", "gatewatch.websocket.direction", "gatewatch.websocket.kind"),
    "websocket_bytes": ("http.route", "gatewatch.websocket.direction"),
    "websocket_closes": (
        "http.route",
        "gatewatch.websocket.close_code",
        "gatewatch.websocket.close_initiator",
    ),
    "websocket_exceptions": ("http.route", "error.type"),
}


def _span_method(record: RequestRecord) -> str:
    # The conventions name a span of an unknown method "HTTP".
    return "HTTP" if record.method == "_OTHER" else record.method


def _close_code(code: int | None) -> str:
    if code is None:
        return "none"
    return str(code) if 1000 <= code <= 4999 else "other"


def _http_metric_attributes(
    interface: str,
    method: str,
    route: str | None,
    status: int,
    scheme: str | None,
    version: str | None,
    exception: str,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {"http.request.method": method, "gatewatch.interface": interface}
    if scheme is not None:
        attributes["url.scheme"] = scheme
    if route is not None:
        attributes["http.route"] = route
    if status:
        attributes["http.response.status_code"] = status
    if version is not None:
        attributes["network.protocol.version"] = version
    if exception:
        attributes["error.type"] = exception
    elif status >= 500:
        attributes["error.type"] = str(status)
    return attributes


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
