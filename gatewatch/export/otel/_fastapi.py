"""FastAPI's own OpenTelemetry (``FastAPI(telemetry=...)``, on by default once a provider is
configured) under gatewatch's: one SERVER span and one set of HTTP instruments per request.

FastAPI opens a SERVER span of its own, parented on the request's headers only, and records
``http.server.request.duration`` and ``http.server.active_requests``: wrapped by gatewatch with
``otel=True``, each request gave two traces (the app's spans under FastAPI's) and both
instruments twice (issue 26). gatewatch is the outer layer and its span covers the whole
request, so it leads, for the requests it traces and records, and only those:

- the SERVER span FastAPI starts while gatewatch's span of the request is current is gatewatch's
  own span context, not recording: FastAPI makes it current as it would its own, so its
  operation spans (dependencies, endpoint, serialization) and the app's spans are children of
  gatewatch's span, and its log records carry its trace;
- FastAPI's two instruments record nothing for a request gatewatch records, as long as gatewatch
  records the same instrument (not with a no-op meter provider; the duration not if
  ``histograms=`` leaves it out).

Everything else of FastAPI's telemetry is left as it is: excluded paths, requests gatewatch
does not record, its logs, its ``exclude`` and ``telemetry`` settings. This reaches into
``app._native_telemetry`` (its tracer and instruments); a FastAPI without it, or of another
shape, is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanKind

from gatewatch.record import current_record

if TYPE_CHECKING:
    from gatewatch.export.otel.sink import OtelSink

logger = logging.getLogger("gatewatch")

# How deep to look for FastAPI under middlewares that keep their app as ``.app``.
_MAX_DEPTH = 8


def settle(app: object, sink: OtelSink) -> bool:
    """Make a FastAPI app that ``app`` is or wraps defer to ``sink`` as above; True if it did."""
    fastapi_app = _fastapi_in(app)
    if fastapi_app is None:
        return False
    native = getattr(fastapi_app, "_native_telemetry", None)
    get_tracer = getattr(native, "_get_tracer", None)
    instruments = getattr(native, "_instruments", None)
    if native is None or not callable(get_tracer) or not callable(instruments):
        return False
    if getattr(native, "_gatewatch_sink", None) is sink:
        return True
    try:
        native._get_tracer = _deferring_tracer(get_tracer, sink)
        native._instruments = _deferring_instruments(instruments, sink)
        native._gatewatch_sink = sink
    except (AttributeError, TypeError) as exc:  # a FastAPI of another shape: left alone
        logger.warning("gatewatch: FastAPI's own OpenTelemetry left as it is (%s)", exc)
        return False
    return True


def _fastapi_in(app: object) -> object | None:
    try:
        from fastapi import FastAPI
    except ImportError:
        return None
    for _ in range(_MAX_DEPTH):
        if isinstance(app, FastAPI):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def _gatewatch_span(sink: OtelSink) -> trace.Span | None:
    """gatewatch's span of the request running now, if it has one."""
    record = current_record.get()
    if record is None:
        return None
    traced = sink.spans.get(record)
    return None if traced is None else traced.span


class _DeferringTracer:
    """FastAPI's tracer, but for the SERVER span of a request gatewatch already traces."""

    def __init__(self, tracer: trace.Tracer, sink: OtelSink) -> None:
        self._tracer = tracer
        self._sink = sink

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        kind = kwargs.get("kind", args[1] if len(args) > 1 else SpanKind.INTERNAL)
        if kind is SpanKind.SERVER:
            span = _gatewatch_span(self._sink)
            if span is not None:
                return NonRecordingSpan(span.get_span_context())
        return self._tracer.start_span(name, *args, **kwargs)

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._tracer.start_as_current_span(name, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracer, name)


def _deferring_tracer(get_tracer: Callable[..., Any], sink: OtelSink) -> Callable[..., Any]:
    # FastAPI asks for its tracer on every request (and keeps one per provider): the wrapper of
    # the last one is kept.
    last: list[Any] = [None, None]

    def deferring(**kwargs: Any) -> Any:
        tracer = get_tracer(**kwargs)
        if last[0] is not tracer:
            last[:] = [tracer, _DeferringTracer(tracer, sink)]
        return last[1]

    return deferring


class _Deferring:
    """One of FastAPI's instruments, silent for a request gatewatch records, if gatewatch
    records the same instrument."""

    def __init__(self, instrument: Any, sink: OtelSink) -> None:
        self._instrument = instrument
        self._sink = sink
        # The SDK's instruments and the API's proxies name themselves differently.
        name = getattr(instrument, "name", None) or getattr(instrument, "_name", None)
        self._duplicated = isinstance(name, str) and sink.exports(name)

    def record(self, *args: Any, **kwargs: Any) -> None:
        if not (self._duplicated and current_record.get() is not None):
            self._instrument.record(*args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> None:
        if not (self._duplicated and current_record.get() is not None):
            self._instrument.add(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._instrument, name)


def _deferring_instruments(instruments: Callable[[], Any], sink: OtelSink) -> Callable[[], Any]:
    # Asked for on every request too; the same instruments while the meter provider stays.
    last: list[Any] = [None, None]

    def deferring() -> Any:
        found = tuple(instruments())
        if last[0] != found:
            last[:] = [found, tuple(_Deferring(instrument, sink) for instrument in found)]
        return last[1]

    return deferring
