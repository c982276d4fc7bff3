"""The in-process hub: counts requests in flight, bounds labels, hands finished records to sinks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from time import perf_counter

from gatewatch._compile_hints import mypyc_attr
from gatewatch._in_flight import InFlight
from gatewatch._labels import (
    METHOD_LABELS,
    OTHER,
    OTHER_METHOD,
    OTHER_STATUS,
    STATUS_LABELS,
    UNMATCHED,
    BoundedLabels,
    RouteLabels,
    exception_name,
    status_label,
)
from gatewatch._measure import CLOSE_CODE_OVERFLOW, MAX_CLOSE_CODES, close_code_label
from gatewatch._printable import Printed, gatewatch_logger

# In a module mypyc leaves as Python: users', OpenTelemetry's and tests' sinks subclass it, and
# the runtime and the live view hold sinks by weak reference.
from gatewatch._sink import Sink as Sink
from gatewatch.catalogue import CLIENT_CLOSED_STATUS
from gatewatch.export.live._sessions import SessionTable
from gatewatch.options import Options
from gatewatch.record import RequestRecord, WebSocketRecord

logger = gatewatch_logger()
NO_STACK = "(no stack: shorter than the watchdog's resolution)"
CLIENT_CLOSED_LABEL = status_label(CLIENT_CLOSED_STATUS)

MAX_EXCEPTION_TYPES = 200
# One log line per place at most this often: a broken exporter must not flood the app's logs.
INTERNAL_ERROR_LOG_INTERVAL = 60.0
# One loop-block warning per route at most this often (the counter has them all).
LOOP_BLOCK_LOG_INTERVAL = 10.0


# The hooks every request goes through: the monitor keeps, for each, only the sinks that
# override it, as bound methods, so a request never pays a call into an empty method.
RequestHook = Callable[[RequestRecord], None]
# The rest, called through Monitor._notify, the same way.
_NOTIFIED_HOOKS = (
    "session_accepted",
    "session_finished",
    "loop_lag",
    "loop_block",
    "worker_threads_known",
    "note_server",
)


def overriding(sinks: Iterable[Sink], hook: str) -> tuple[Callable[..., None], ...]:
    """The bound ``hook`` of every sink whose class overrides :class:`Sink`'s no-op one.

    Looked up on the class, as methods are: a sink that is no :class:`Sink` subclass and
    lacks the hook is skipped like one that inherits the no-op.
    """
    default = getattr(Sink, hook)
    return tuple(getattr(sink, hook) for sink in sinks if getattr(type(sink), hook, default) is not default)


# Weakly referenced (the runtime's tables, the live view): a Python class in the compiled build
# too (mypyc's native classes take no weak reference), its methods compiled. Compiled code then
# takes only a Monitor itself, no subclass of it.
@mypyc_attr(native_class=False)
class Monitor:
    """Everything a process knows about its HTTP traffic, shared by all its middlewares.

    The hot path takes no lock of its own (:mod:`gatewatch._in_flight`) and hands each
    finished record to the sinks once; sinks only add numbers and build their views
    when they are read.
    """

    def __init__(self, *, max_routes: int = Options.max_routes, sinks: Iterable[Sink] = ()) -> None:
        self.routes = RouteLabels(max_routes=max_routes)
        self._routes_admitted = self.routes.admitted
        self.max_routes = max_routes
        self.exception_types = BoundedLabels(limit=MAX_EXCEPTION_TYPES)
        self.close_codes = BoundedLabels(limit=MAX_CLOSE_CODES, overflow=CLOSE_CODE_OVERFLOW)
        self._lock = threading.Lock()
        self._in_flight = InFlight()
        # Its tables and numbering, read by every arrival and departure.
        self._tables = self._in_flight.tables
        self._numbers = self._in_flight.numbers
        # Called once, at this process's first request (gatewatch.export.live starts its writer).
        self._first_request: list[Callable[[], None]] = []
        self._sinks: tuple[Sink, ...] = ()
        self._on_started: tuple[RequestHook, ...] = ()
        self._on_left: tuple[RequestHook, ...] = ()
        self._on_finished: tuple[RequestHook, ...] = ()
        self._on_internal_error: tuple[Callable[[], None], ...] = ()
        # The other hooks (sessions, the loop, worker threads) by name, for _notify.
        self._hooks: dict[str, tuple[Callable[..., None], ...]] = {}
        # interface -> server software, for gatewatch_info.
        self.servers: dict[str, str] = {}
        self.sessions = SessionTable()
        self.internal_errors = 0
        self._last_logged: dict[str, float] = {}
        self._block_logged: dict[str, float] = {}
        # How many WSGI requests this process serves at once, when known (gatewatch.wsgi._workers).
        self.worker_threads: int | None = None
        # A sink shows what the requests in flight await (Sink.shows_in_flight).
        self.shows_in_flight = False
        for sink in sinks:
            self.add_sink(sink)

    def add_sink(self, sink: Sink) -> None:
        """Hand records to ``sink`` from now on; requests in flight may miss its early hooks."""
        # Under the lock, so that two sinks added at once both stay. Each tuple is rebuilt
        # whole and swapped in with one store: a request reading it meanwhile sees the old
        # one or the new one.
        with self._lock:
            sinks = self._sinks = (*self._sinks, sink)
            self._on_started = overriding(sinks, "request_started")
            self._on_left = overriding(sinks, "request_left")
            self._on_finished = overriding(sinks, "request_finished")
            self._on_internal_error = overriding(sinks, "internal_error")
            self._hooks = {hook: overriding(sinks, hook) for hook in _NOTIFIED_HOOKS}
            self.shows_in_flight = any(getattr(sink, "shows_in_flight", False) is True for sink in sinks)

    def note_server(self, interface: str, server: str) -> None:
        if self.servers.get(interface) != server:
            self.servers[interface] = server
            self._notify("note_server", interface, server)

    def note_worker_threads(self, threads: int) -> None:
        if threads != self.worker_threads:
            self.worker_threads = threads
            self._notify("worker_threads_known", threads)

    def on_first_request(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` at the next request this process starts, once (in the process that
        serves it: a monitor built before gunicorn's fork calls it in each worker)."""
        # No lock: a list append is atomic, and this may run in a child just after a fork.
        self._first_request.append(callback)

    def start(self, interface: str, method: str, path: str) -> RequestRecord:
        """A new record, in flight from now (the middlewares begin theirs in gatewatch._lifecycle)."""
        record = RequestRecord(interface, METHOD_LABELS.get(method, OTHER_METHOD), path, perf_counter())
        self.arrive(record)
        return record

    def arrive(self, record: RequestRecord) -> None:
        """``record`` counts in flight from now; the sinks hear of it."""
        # In flight (gatewatch._in_flight), inline; ``concurrency``: how many of its interface were.
        table = self._tables.get(record.interface)
        if table is None:
            table = self._in_flight.table(record.interface)
        records = table.records
        record.concurrency = len(records)
        record.number = next(self._numbers)
        records[record] = None
        if record.method not in table.methods:
            table.methods.add(record.method)
        if self._first_request:
            self._run_first_request()
        for hook in self._on_started:
            try:
                hook(record)
            except Exception as exc:  # noqa: BLE001 - one broken sink must not lose the request
                self.report_internal_error("sink.request_started", exc)

    def leave_in_flight(self, record: RequestRecord) -> None:
        """The response ended (or the request is over): it stops counting as in flight, even if
        the application goes on working (Django's close hop, background tasks). Idempotent."""
        if record.left:
            return
        record.left = True
        record.scope = None
        record.coroutine = None
        table = self._tables.get(record.interface)
        if table is not None:
            table.records.pop(record, None)
        for hook in self._on_left:
            try:
                hook(record)
            except Exception as exc:  # noqa: BLE001
                self.report_internal_error("sink.request_left", exc)

    def _run_first_request(self) -> None:
        with self._lock:
            callbacks, self._first_request = self._first_request, []
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:  # noqa: BLE001
                self.report_internal_error("monitor.first_request", exc)

    def finish(
        self, record: RequestRecord, returned: float | None = None, exception: BaseException | None = None
    ) -> None:
        """Record the request, once; never raises (whatever failed before, in-flight returns).

        ``returned`` is when the application returned (ASGI) or its response was closed (WSGI)
        (perf_counter), and ``exception`` what it raised then: given, the after-response
        numbers go to the sinks with the rest, in one call each.
        """
        if record.finished:
            return
        record.finished = True
        try:
            end = record.end
            if end is None:
                end = record.end = perf_counter()
            cpu = record.cpu
            if cpu is not None and cpu > end - record.start:
                # Never more than the duration, on every path: the CPU and wall clocks tick
                # apart (the monotonic one is slewed by NTP, thread CPU time is coarse on some
                # systems), so over a short request the CPU reading can pass the wall one.
                record.cpu = end - record.start
            if returned is not None and record.response_complete:
                after = returned - end
                # Not max(): a builtin's call on every request's path.
                record.after_response = after if after > 0.0 else 0.0
                if exception is not None:
                    record.after_exception_label = self.exception_types.label(exception_name(exception))
            route = record.route
            if route is None:
                record.route_label = UNMATCHED
            else:
                # A route seen before, read without a call (RouteLabels.admitted).
                label = self._routes_admitted.get(route)
                record.route_label = label if label is not None else self.routes.label(route)
            if record.disconnected:
                record.status_label = CLIENT_CLOSED_LABEL
            else:
                # No response started at all: the server answers 500 on the app's behalf.
                record.status_label = STATUS_LABELS.get(record.status or 500, OTHER_STATUS)
            if record.exception is not None:
                self._label_exception(record)
        except Exception as exc:  # noqa: BLE001 - a bad annotation must not lose the request
            self.report_internal_error("monitor.finish", exc)
            record.route_label = record.route_label or OTHER
            record.status_label = record.status_label or status_label(record.status or 500)
        if not record.left:
            self.leave_in_flight(record)
        for hook in self._on_finished:
            try:
                hook(record)
            except Exception as exc:  # noqa: BLE001
                self.report_internal_error("sink.request_finished", exc)
        if record.loop_blocks is not None:
            self._report_blocks(record)

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
        if was_open:
            record.close_label = self.close_codes.label(close_code_label(record.close_code))
        self.sessions.closed(record, was_open=was_open)
        self._notify("session_finished", record)
        if record.loop_blocks is not None:
            self._report_blocks(record)

    # -- the event loop (gatewatch.asgi._loop_watch) -----------------------------------------

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
            # One frame a line, each printable; the logger makes the route printable.
            where = Printed.lines(stack, "\n    ") if stack else NO_STACK
            logger.warning(
                "gatewatch: %s held the event loop for %.0f ms; nothing else on the loop ran "
                "meanwhile.\n    %s",
                route,
                duration * 1000,
                where,
            )

    def _notify(self, hook: str, *args: object) -> None:
        # The hooks that are not per request: one shared guard, looked up by name.
        for method in self._hooks.get(hook, ()):
            try:
                method(*args)
            except Exception as exc:  # noqa: BLE001
                self.report_internal_error(f"sink.{hook}", exc)

    def _report_blocks(self, record: RequestRecord) -> None:
        for duration, stack in record.loop_blocks or ():
            self.loop_block(record.route_label, duration, stack)

    def _label_exception(self, record: RequestRecord) -> None:
        if record.exception is not None:
            record.exception_label = self.exception_types.label(exception_name(record.exception))

    def flying(self, limit: int) -> tuple[list[RequestRecord], int]:
        """The oldest ``limit`` records in flight, and how many more there are."""
        return self._in_flight.oldest(limit)

    def in_flight(self) -> dict[tuple[str, str], int]:
        """Requests in flight by (interface, method label)."""
        return self._in_flight.counts()

    def in_flight_of(self, interface: str) -> int | None:
        """Requests of ``interface`` in flight now; None when it has served none yet."""
        return self._in_flight.count_of(interface)

    def report_internal_error(self, where: str, exc: BaseException) -> None:
        """Count and (rate-limited) log an error inside gatewatch; never raises."""
        try:
            self.internal_errors += 1
            for hook in self._on_internal_error:
                hook()
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
