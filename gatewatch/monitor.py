"""The in-process hub: counts requests in flight, bounds labels, hands finished records to sinks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from time import perf_counter
from typing import Protocol

from gatewatch.catalogue import CLIENT_CLOSED_STATUS
from gatewatch.labels import BoundedLabels, RouteLabels, exception_name, method_label, status_label
from gatewatch.record import RequestRecord, WebSocketRecord
from gatewatch.sessions import SessionTable

logger = logging.getLogger("gatewatch")

MAX_EXCEPTION_TYPES = 200
# One log line per place at most this often: a broken exporter must not flood the app's logs.
INTERNAL_ERROR_LOG_INTERVAL = 60.0
# One loop-block warning per route at most this often (the counter has them all).
LOOP_BLOCK_LOG_INTERVAL = 10.0


class Sink(Protocol):
    """Something that turns records into a view: Prometheus, OpenTelemetry, the live state."""

    def request_started(self, record: RequestRecord) -> None: ...

    def request_finished(self, record: RequestRecord) -> None: ...

    def internal_error(self) -> None: ...

    def session_accepted(self, record: WebSocketRecord) -> None: ...

    def session_finished(self, record: WebSocketRecord) -> None: ...

    def loop_lag(self, seconds: float) -> None: ...

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None: ...

    def worker_threads_known(self, threads: int) -> None: ...


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
            for sink in self._sinks:
                sink.worker_threads_known(threads)

    def start(self, interface: str, method: str, path: str) -> RequestRecord:
        record = RequestRecord(interface, method_label(method), path, perf_counter())
        key = (interface, record.method)
        with self._lock:
            already = self._in_flight_by_interface.get(interface, 0)
            record.concurrency = already
            self._in_flight_by_interface[interface] = already + 1
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        for sink in self._sinks:
            sink.request_started(record)
        return record

    def finish(self, record: RequestRecord) -> None:
        if record.end is None:
            record.end = perf_counter()
        record.route_label = self.routes.route(record.route)
        if record.disconnected:
            record.status_label = status_label(CLIENT_CLOSED_STATUS)
        else:
            # No response started at all: the server answers 500 on the app's behalf.
            record.status_label = status_label(record.status or 500)
        self._label_exception(record)
        interface = record.interface
        with self._lock:
            self._in_flight_by_interface[interface] -= 1
            self._in_flight[(interface, record.method)] -= 1
        for sink in self._sinks:
            sink.request_finished(record)
        if record.loop_blocks is not None:
            self._report_blocks(record)

    def start_session(self, path: str) -> WebSocketRecord:
        return WebSocketRecord(path, perf_counter(), self.sessions.next_id())

    def session_accepted(self, record: WebSocketRecord) -> None:
        """The app accepted: from now on the session is open and counts as active."""
        record.route_label = self.routes.route(record.route)
        self.sessions.opened(record)
        for sink in self._sinks:
            sink.session_accepted(record)

    def finish_session(self, record: WebSocketRecord) -> None:
        was_open = record.accepted_at is not None
        if not was_open:
            record.route_label = self.routes.route(record.route)
        if record.closed_at is None:
            record.closed_at = perf_counter()
        record.end = record.closed_at
        self._label_exception(record)
        self.sessions.closed(record, was_open=was_open)
        for sink in self._sinks:
            sink.session_finished(record)
        if record.loop_blocks is not None:
            self._report_blocks(record)

    # -- the event loop (gatewatch.loop_watch) -----------------------------------------

    def loop_lag(self, seconds: float) -> None:
        for sink in self._sinks:
            sink.loop_lag(seconds)

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        """A synchronous step held the event loop for ``duration`` seconds."""
        for sink in self._sinks:
            sink.loop_block(route, duration, stack)
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
