"""One HTTP request's ``receive`` and ``send`` as the application sees them: counted, then passed on.

One object per request with both as methods: fewer allocations than two closures over the
request's variables (this is on every request's path). Messages are never changed, held or
consumed; only read.
"""

from __future__ import annotations

import os
from time import perf_counter, thread_time

from gatewatch._lifecycle import app_cancelled
from gatewatch.asgi._client_gone import client_gone
from gatewatch.asgi._read_only import read_only
from gatewatch.asgi._routes import route_template
from gatewatch.monitor import Monitor
from gatewatch.record import RequestRecord
from gatewatch.types import Message, Receive, Send


class HTTPExchange:
    __slots__ = ("_monitor", "_receive", "_record", "_send")

    def __init__(self, record: RequestRecord, monitor: Monitor, receive: Receive, send: Send) -> None:
        self._record = record
        self._monitor = monitor
        self._receive = receive
        self._send = send

    async def receive(self) -> Message:
        message = await self._receive()
        try:
            fields = read_only(message)
            kind = fields["type"]
            record = self._record
            if kind == "http.request":
                record.request_bytes += len(fields.get("body", b""))
            elif kind == "http.disconnect" and not record.response_complete:
                record.disconnected = True
        except Exception as exc:  # noqa: BLE001
            self._monitor.report_internal_error("asgi.receive", exc)
        return message

    async def send(self, message: Message) -> None:
        record = self._record
        send = self._send
        fields = read_only(message)
        kind = fields.get("type")
        if kind == "http.response.body":
            body_size = len(fields.get("body", b""))
            final = not fields.get("more_body", False)
            if record.first_byte is None and (body_size or final):
                record.first_byte = perf_counter()
        elif kind == "http.response.start":
            record.status = fields.get("status", 0)
            body_size, final = 0, False
        else:
            body_size, final = extension_body(fields)
            if record.first_byte is None and body_size:
                record.first_byte = perf_counter()
        if final and client_gone(send):
            # The server knows the client left and will drop this message silently
            # (uvicorn and hypercorn do for HTTP: no ASGI 2.4 OSError), and an app that
            # never calls receive() never hears of it: the response never ended.
            record.disconnected = True
            final = False
        if final:
            # Marked before the send returns: some servers (hypercorn) queue an
            # http.disconnect for the app inside the final send, and a listener task
            # may read it before this send returns; the response was delivered.
            record.response_complete = True
        try:
            await send(message)
        except OSError:
            # The server could not deliver it: the client has gone.
            record.response_complete = False
            record.disconnected = True
            raise
        record.response_bytes += body_size
        if final:
            if record.cpu is not None:
                # A sampled request: its CPU time stops with its duration (read first, so
                # inside it), not with the app's after-response work.
                record.cpu_end = thread_time()
            record.end = perf_counter()
            # The client has the response: whatever the app does from here on (Django's
            # close hop, background tasks) is after-response work, not in flight.
            self._monitor.leave_in_flight(record)


class FinalizingExchange(HTTPExchange):
    """The compiled build's exchange: it finishes a request whose coroutine was dropped.

    A task dropped unfinished (its loop closed, a server that lets go of it) is collected
    later. Python then closes its coroutine, and the middleware's ``finally`` finishes the
    request; a coroutine compiled by mypyc is freed without being closed, so that ``finally``
    never runs and the request would stay in flight, never counted. The exchange dies with
    the coroutine that holds it: here it finishes the request as the ``finally`` would, as
    cancelled. (The pure build uses :class:`HTTPExchange`: a finalizer there would cost an
    interpreted call on every request for what Python already does.)
    """

    __slots__ = ()

    def __del__(self) -> None:
        record = self._record
        if record.finished:
            return
        try:
            app_cancelled(record)
            if record.route is None and record.scope is not None:
                record.route = route_template(record.scope, record.root_path)
        except Exception as exc:  # noqa: BLE001 - a finalizer must never raise (it would only be printed)
            self._monitor.report_internal_error("asgi.dropped", exc)
        # Never raises: the request leaves in-flight and is counted, once.
        self._monitor.finish(record, perf_counter())


def extension_body(message: Message) -> tuple[int, bool]:
    """Bytes and finality of the ASGI ``pathsend`` / ``zerocopysend`` extension messages."""
    kind = message.get("type")
    if kind == "http.response.pathsend":
        try:
            return os.path.getsize(message["path"]), True
        except (OSError, KeyError, TypeError):
            return 0, True
    if kind == "http.response.zerocopysend":
        final = not message.get("more_body", False)
        count = message.get("count")
        if isinstance(count, int):
            return count, final
        try:
            size = os.fstat(message["file"].fileno()).st_size - int(message.get("offset", 0) or 0)
            return max(size, 0), final
        except (OSError, KeyError, AttributeError, TypeError, ValueError):
            return 0, final
    return 0, False
