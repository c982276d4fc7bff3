"""Records described as the live view's JSON (:mod:`gatewatch.export.live.schema`), when a snapshot
is built: the request path only keeps records and numbers, and pays nothing for this."""

from __future__ import annotations

import types
from typing import TypedDict

from gatewatch.asgi._routes import route_template
from gatewatch.export.live.schema import (
    AwaitedFrame,
    FinishedRequest,
    InFlightCount,
    InFlightRequest,
    WebSockets,
    WSGIWorkers,
)
from gatewatch.monitor import Monitor
from gatewatch.record import WSGI, RequestRecord
from gatewatch.wsgi._routes import werkzeug_route


def describe_finished(record: RequestRecord, wall_offset: float) -> FinishedRequest:
    """A finished request; ``wall_offset`` turns its perf_counter times into Unix times."""
    first_byte = record.first_byte
    end = record.end if record.end is not None else record.start
    return {
        "interface": record.interface,
        "method": record.method,
        "route_label": record.route_label,
        "status_label": record.status_label,
        "duration": end - record.start,
        "blocking": record.blocking,
        "longest_step": record.longest_step,
        "cpu": record.cpu,
        "ttfb": None if first_byte is None else first_byte - record.start,
        "request_bytes": record.request_bytes,
        "response_bytes": record.response_bytes,
        "exception_label": record.exception_label or None,
        "disconnected": record.disconnected,
        "concurrency": record.concurrency,
        "offload": record.offload,
        "thread_hops": record.thread_hops,
        "view": record.view,
        "view_kind": record.view_kind,
        "finished_at": end + wall_offset,
        "after_response": record.after_response,
        "queue": record.queue,
    }


def describe_in_flight(
    number: int, record: RequestRecord, now: float, monitor: Monitor | None
) -> InFlightRequest:
    """A request in flight, shown as ``number``, at ``now`` (perf_counter)."""
    age = now - record.start
    # A WSGI request holds its worker from the call on, and its CPU time is read at the end.
    wsgi = record.interface == WSGI
    route = record.route
    if route is None:
        route = _routed(record, monitor)
    return {
        "id": number,
        "interface": record.interface,
        "method": record.method,
        "route": route,
        "age": age,
        "blocking": age if wsgi else record.blocking,
        "cpu": None if wsgi else record.cpu,
        "thread_hops": record.thread_hops,
        "offload": record.offload,
        "view": record.view,
        "view_kind": record.view_kind,
        "awaiting": None if wsgi else _awaiting(record, monitor),
    }


# Deeper await chains than this are cut: the frame shown is the deepest one reached.
MAX_AWAIT_DEPTH = 100


def awaited_frame(awaitable: object) -> AwaitedFrame | None:
    """The innermost Python frame of ``awaitable``'s await chain: where a suspended coroutine
    is waiting now (or, for one running on another thread, where it runs). Follows
    ``cr_await`` (coroutines), ``gi_yieldfrom`` (generator-based awaitables, ``__await__``
    generators) and ``ag_await`` (async generators); an awaitable without a frame (an asyncio
    future, a C extension's awaitable) ends the chain. None when no frame is left (the
    coroutine finished, or is no coroutine)."""
    frame: types.FrameType | None = None
    current = awaitable
    for _ in range(MAX_AWAIT_DEPTH):
        if isinstance(current, types.CoroutineType):
            found, current = current.cr_frame, current.cr_await
        elif isinstance(current, types.GeneratorType):
            found, current = current.gi_frame, current.gi_yieldfrom
        elif isinstance(current, types.AsyncGeneratorType):
            found, current = current.ag_frame, current.ag_await
        else:
            break
        if found is None:
            break
        frame = found
        if current is None:
            break
    if frame is None:
        return None
    code = frame.f_code
    line = frame.f_lineno
    return {
        "file": code.co_filename,
        "line": line if line is not None else code.co_firstlineno,
        "function": code.co_qualname,
    }


def _awaiting(record: RequestRecord, monitor: Monitor | None) -> AwaitedFrame | None:
    reference = record.coroutine  # one read: the monitor drops it when the request leaves
    coroutine = reference() if reference is not None else None
    if coroutine is None:
        return None
    try:
        return awaited_frame(coroutine)
    except Exception as exc:  # noqa: BLE001 - an odd awaitable must not break the view
        if monitor is not None:
            monitor.report_internal_error("live.awaiting", exc)
        return None


def _routed(record: RequestRecord, monitor: Monitor | None) -> str | None:
    """The route an ASGI router (Starlette, FastAPI) has put in the request's scope so far,
    or the rule a WSGI request of Werkzeug or Flask has matched so far (in its environ).

    Read here, when a snapshot is built, rather than by the middleware: a request pays
    nothing for it, and the request learns its route as soon as the router has matched,
    not when it finishes. The scope is read from whichever thread builds the snapshot;
    single dict reads are safe there, and a value caught mid-routing is corrected by the
    next snapshot (the finished request is named by the middleware, as before).
    """
    scope = record.scope  # one read: the monitor drops it when the request leaves
    if scope is None:
        return None
    try:
        if record.interface == WSGI:
            return werkzeug_route(scope)
        return route_template(scope, record.root_path)
    except Exception as exc:  # noqa: BLE001 - an odd router object must not break the view
        if monitor is not None:
            monitor.report_internal_error("live.route", exc)
        return None


class MonitorPart(TypedDict):
    """What the monitor, not the live state, knows: part of a process snapshot."""

    servers: dict[str, str]
    in_flight_counts: list[InFlightCount]
    websockets: WebSockets
    internal_errors: int
    wsgi_workers: WSGIWorkers


def monitor_part(monitor: Monitor | None) -> MonitorPart:
    """The monitor's part of a snapshot; empty once the monitor is gone."""
    if monitor is None:
        return {
            "servers": {},
            "in_flight_counts": [],
            "websockets": {"open": [], "recent": [], "active_by_route": {}, "unlisted": 0},
            "internal_errors": 0,
            "wsgi_workers": {"busy": 0, "total": None},
        }
    sessions = monitor.sessions
    return {
        "servers": dict(monitor.servers),
        "in_flight_counts": [
            {"interface": interface, "method": method, "count": count}
            for (interface, method), count in sorted(monitor.in_flight().items())
        ],
        "websockets": {
            "open": sessions.open_sessions(),
            "recent": sessions.recent_closed(),
            "active_by_route": sessions.active(),
            "unlisted": sessions.untracked,
        },
        "internal_errors": monitor.internal_errors,
        # WSGI threads of this process: busy are its WSGI requests in flight.
        "wsgi_workers": {
            "busy": monitor.in_flight_of(WSGI) or 0,
            "total": monitor.worker_threads,
        },
    }
