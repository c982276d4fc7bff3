"""The in-process hub: counts requests in flight, bounds labels, hands finished records to sinks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from time import perf_counter

from gatewatch.catalogue import CLIENT_CLOSED_STATUS
from gatewatch.labels import OTHER, BoundedLabels, RouteLabels, exception_name, method_label, status_label
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.sessions import SessionTable

logger = logging.getLogger("gatewatch")

MAX_EXCEPTION_TYPES = 200
# One log line per place at most this often: a broken exporter must not flood the app's logs.
INTERNAL_ERROR_LOG_INTERVAL = 60.0
# One loop-block warning per route at most this often (the counter has them all).
LOOP_BLOCK_LOG_INTERVAL = 10.0


class Sink:
    """Something that turns records into a view: Prometheus, OpenTelemetry, the live state.

    Every hook does nothing here; a sink overrides the ones it needs. A hook that raises is
    counted as an internal error and never stops the request or the other sinks.
    """

    def request_started(self, record: RequestRecord) -> None:
        """A request arrived (it counts as in flight from now)."""

    def request_left(self, record: RequestRecord) -> None:
        """The request no longer counts as in flight: its response ended, or it finished
        without one. Comes once per request, before :meth:`request_finished`."""

    def request_finished(self, record: RequestRecord) -> None:
        """The request is over; every number of ``record`` is final but the after-response ones."""

    def request_after_response(self, record: RequestRecord) -> None:
        """The application returned (ASGI) or the response was closed (WSGI) after the response
        ended: ``record.after_response`` seconds later; ``record.after_exception_label`` names an
        exception raised then ("" if none). Comes after :meth:`request_finished`, at most once."""

    def internal_error(self) -> None:
        """An error inside gatewatch was counted."""

    def session_accepted(self, record: WebSocketRecord) -> None:
        """A WebSocket session was accepted."""

    def session_finished(self, record: WebSocketRecord) -> None:
        """A WebSocket session ended (accepted or not)."""

    def loop_lag(self, seconds: float) -> None:
        """A lag sample of an event loop."""

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        """A synchronous step held an event loop past the block threshold."""

    def worker_threads_known(self, threads: int) -> None:
        """How many WSGI requests this process serves at once."""


class Monitor:
    """Everything a process knows about its HTTP traffic, shared by all its middlewares.

    The hot path takes one short lock at arrival (in-flight counts) and hands each
    finished record to the sinks once; sinks only add numbers and build their views
    when they are read.
    """

    def __init__(self, *, max_routes: int = 500, sinks: Iterable[Sink] = ()) -> None:
        self.routes = RouteLabels(max_routes=max_routes)
        self.max_routes = max_routes
        self.exception_types = BoundedLabels(limit=MAX_EXCEPTION_TYPES)
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], int] = {}
        self._in_flight_by_interface: dict[str, int] = {}
        self._sinks: tuple[Sink, ...] = tuple(sinks)
        # interface -> server software, for gatewatch_info.
        self.servers: dict[str, str] = {}
        self.sessions = SessionTable()
        self.internal_errors = 0
        self._last_logged: dict[str, float] = {}
        self._block_logged: dict[str, float] = {}
        # How many WSGI requests this process serves at once, when known (gatewatch.wsgi_workers).
        self.worker_threads: int | None = None

    def add_sink(self, sink: Sink) -> None:
        self._sinks = (*self._sinks, sink)

    def note_server(self, interface: str, server: str) -> None:
        self.servers[interface] = server

    def note_worker_threads(self, threads: int) -> None:
        if threads != self.worker_threads:
            self.worker_threads = threads
            self._notify("worker_threads_known", threads)

    def start(self, interface: str, method: str, path: str) -> RequestRecord:
        record = RequestRecord(interface, method_label(method), path, perf_counter())
        key = (interface, record.method)
        with self._lock:
            already = self._in_flight_by_interface.get(interface, 0)
            record.concurrency = already
            self._in_flight_by_interface[interface] = already + 1
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        for sink in self._sinks:
            try:
                sink.request_started(record)
            except Exception as exc:  # noqa: BLE001 - one broken sink must not lose the request
                self.report_internal_error("sink.request_started", exc)
        return record

    def leave_in_flight(self, record: RequestRecord) -> None:
        """The response ended (or the request is over): it stops counting as in flight, even if
        the application goes on working (Django's close hop, background tasks). Idempotent."""
        if record.left:
            return
        record.left = True
        interface = record.interface
        with self._lock:
            self._in_flight_by_interface[interface] -= 1
            self._in_flight[(interface, record.method)] -= 1
        for sink in self._sinks:
            try:
                sink.request_left(record)
            except Exception as exc:  # noqa: BLE001
                self.report_internal_error("sink.request_left", exc)

    def finish(self, record: RequestRecord) -> None:
        """Record the request, once; never raises (whatever failed before, in-flight returns)."""
        if record.finished:
            return
        record.finished = True
        try:
            if record.end is None:
                record.end = perf_counter()
            record.route_label = self.routes.route(record.route)
            if record.disconnected:
                record.status_label = status_label(CLIENT_CLOSED_STATUS)
            else:
                # No response started at all: the server answers 500 on the app's behalf.
                record.status_label = status_label(record.status or 500)
            self._label_exception(record)
        except Exception as exc:  # noqa: BLE001 - a bad annotation must not lose the request
            self.report_internal_error("monitor.finish", exc)
            record.route_label = record.route_label or OTHER
            record.status_label = record.status_label or status_label(record.status or 500)
        self.leave_in_flight(record)
        for sink in self._sinks:
            try:
                sink.request_finished(record)
            except Exception as exc:  # noqa: BLE001
                self.report_internal_error("sink.request_finished", exc)
        if record.loop_blocks is not None:
            self._report_blocks(record)

    def after_response(self, record: RequestRecord, ended: float, exception: BaseException | None) -> None:
        """The application returned, or the response was closed, at ``ended`` (perf_counter), after a
        response that ended at ``record.end``: what it did since is recorded apart, once."""
        if record.after_response is not None or record.end is None or not record.response_complete:
            return
        try:
            record.after_response = max(ended - record.end, 0.0)
            if exception is not None:
                record.after_exception_label = self.exception_types.label(exception_name(exception))
        except Exception as exc:  # noqa: BLE001
            self.report_internal_error("monitor.after_response", exc)
            return
        for sink in self._sinks:
            try:
                sink.request_after_response(record)
            except Exception as exc:  # noqa: BLE001
                self.report_internal_error("sink.request_after_response", exc)

    def start_session(self, path: str) -> WebSocketRecord:
        return WebSocketRecord(path, perf_counter(), self.sessions.next_id())

    def session_accepted(self, record: WebSocketRecord) -> None:
        """The app accepted: from now on the session is open and counts as active."""
        record.route_label = self.routes.route(record.route)
        self.sessions.opened(record)
        self._notify("session_accepted", record)

    def finish_session(self, record: WebSocketRecord) -> None:
        was_open = record.accepted_at is not None
        if not was_open:
            record.route_label = self.routes.route(record.route)
        if record.closed_at is None:
            record.closed_at = perf_counter()
        record.end = record.closed_at
        self._label_exception(record)
        self.sessions.closed(record, was_open=was_open)
        self._notify("session_finished", record)
        if record.loop_blocks is not None:
            self._report_blocks(record)

    # -- the event loop (gatewatch.loop_watch) -----------------------------------------

    def loop_lag(self, seconds: float) -> None:
        self._notify("loop_lag", seconds)

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        """A synchronous step held the event loop for ``duration`` seconds."""
        self._notify("loop_block", route, duration, stack)
        now = time.monotonic()
        last = self._block_logged.get(route)
        if last is None or now - last >= LOOP_BLOCK_LOG_INTERVAL:
            if len(self._block_logged) < self.max_routes + 2:
                self._block_logged[route] = now
            where = "\n    ".join(stack) if stack else "(no stack: shorter than the watchdog's resolution)"
            logger.warning(
                "gatewatch: %s held the event loop for %.0f ms; nothing else on the loop ran "
                "meanwhile.\n    %s", route, duration * 1000, where,
            )

    def _notify(self, hook: str, *args: object) -> None:
        # The hooks that are not per request: one shared guard, looked up by name.
        for sink in self._sinks:
            try:
                getattr(sink, hook)(*args)
            except Exception as exc:  # noqa: BLE001
                self.report_internal_error(f"sink.{hook}", exc)

    def _report_blocks(self, record: RequestRecord) -> None:
        for duration, stack in record.loop_blocks or ():
            self.loop_block(record.route_label, duration, stack)

    def _label_exception(self, record: RequestRecord) -> None:
        if record.exception is not None:
            record.exception_label = self.exception_types.label(exception_name(record.exception))

    def in_flight(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._in_flight)

    def in_flight_of(self, interface: str) -> int | None:
        """Requests of ``interface`` in flight now; None when it has served none yet."""
        with self._lock:
            return self._in_flight_by_interface.get(interface)

    def report_internal_error(self, where: str, exc: BaseException) -> None:
        """Count and (rate-limited) log an error inside gatewatch; never raises."""
        try:
            self.internal_errors += 1
            for sink in self._sinks:
                sink.internal_error()
            now = time.monotonic()
            last = self._last_logged.get(where)
            if last is None or now - last >= INTERNAL_ERROR_LOG_INTERVAL:
                self._last_logged[where] = now
                logger.error(
                    "gatewatch internal error in %s (the application is unaffected)",
                    where,
                    exc_info=exc,
                )
        except Exception:  # noqa: BLE001 - reporting must never fail the request
            pass
