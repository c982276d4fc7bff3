"""WebSocket sessions under ASGI: one record per session, counted on the ASGI events themselves.

Counting on ``websocket.receive`` / ``websocket.send`` means a message is counted
once whatever the framework does with it (Starlette's iterators, Channels'
consumers), and the per-message cost is a few additions.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from gatewatch._lifecycle import app_raised
from gatewatch.asgi._routes import route_template
from gatewatch.asgi._step_timer import StepTimer
from gatewatch.monitor import Monitor
from gatewatch.record import ACCEPTED, CLIENT, FAILED, REJECTED, SERVER, current_record
from gatewatch.types import ASGIApp, Message, Receive, Scope, Send

# RFC 6455 codes the server uses on the app's behalf.
NORMAL_CLOSURE = 1000
NO_STATUS_RECEIVED = 1005
ABNORMAL_CLOSURE = 1006
INTERNAL_ERROR = 1011


async def serve_websocket(
    app: ASGIApp,
    monitor: Monitor,
    timer: type[StepTimer],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> Any:
    """Serve one WebSocket session through ``app``, recording it; returns what ``app`` returns."""
    try:
        record = monitor.start_session(scope.get("path", ""))
    except Exception as exc:  # noqa: BLE001 - never let recording stop the session
        monitor.report_internal_error("websocket.start", exc)
        return await app(scope, receive, send)
    root_path = scope.get("root_path", "")
    token = current_record.set(record)

    async def receive_counted() -> Message:
        message = await receive()
        try:
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    record.received_text += 1
                    # isascii() is O(1) in CPython: skip the encode for ASCII text.
                    record.received_bytes += len(text) if text.isascii() else len(text.encode())
                else:
                    record.received_binary += 1
                    record.received_bytes += len(message.get("bytes") or b"")
                record.last_message_at = perf_counter()
            elif kind == "websocket.disconnect":
                record.close_by(CLIENT, message.get("code", NO_STATUS_RECEIVED))
        except Exception as exc:  # noqa: BLE001
            monitor.report_internal_error("websocket.receive", exc)
        return message

    async def send_counted(message: Message) -> None:
        try:
            await send(message)
        except OSError:
            # The connection is gone under the app: the client dropped it. Whatever the
            # app raises because of that is the disconnect, not an app bug.
            record.disconnected = True
            record.close_by(CLIENT, ABNORMAL_CLOSURE)
            raise
        try:
            kind = message["type"]
            if kind == "websocket.send":
                # The same counting as on receive, spelled out: it runs for every message.
                text = message.get("text")
                if text is not None:
                    record.sent_text += 1
                    record.sent_bytes += len(text) if text.isascii() else len(text.encode())
                else:
                    record.sent_binary += 1
                    record.sent_bytes += len(message.get("bytes") or b"")
                record.last_message_at = perf_counter()
            elif kind == "websocket.accept":
                record.accepted_at = perf_counter()
                record.outcome = ACCEPTED
                if record.route is None:
                    record.route = route_template(scope, root_path)
                monitor.session_accepted(record)
            elif kind == "websocket.close":
                if record.accepted_at is None:
                    record.outcome = REJECTED
                record.close_by(SERVER, message.get("code") or NORMAL_CLOSURE)
            elif kind == "websocket.http.response.start":
                # The Denial Response extension: an HTTP answer instead of a handshake.
                record.outcome = REJECTED
                record.status = message.get("status", 0)
        except Exception as exc:  # noqa: BLE001
            monitor.report_internal_error("websocket.send", exc)

    try:
        return await timer(app(scope, receive_counted, send_counted), record)
    except Exception as exc:
        app_raised(record, exc)
        if not record.outcome:
            record.outcome = FAILED
        else:
            # The server closes an accepted session whose app crashed with 1011.
            record.close_by(SERVER, INTERNAL_ERROR)
        raise
    except BaseException:
        # Cancelled: the server is shutting down or gave up on the connection.
        if record.outcome == ACCEPTED:
            record.close_by(SERVER, ABNORMAL_CLOSURE)
        raise
    finally:
        try:
            current_record.reset(token)
            if not record.outcome:
                # Returned without accepting: the server rejects the handshake (403).
                record.outcome = REJECTED
            elif record.outcome == ACCEPTED:
                # Returned while open: the server closes it normally.
                record.close_by(SERVER, NORMAL_CLOSURE)
            if record.route is None:
                record.route = route_template(scope, root_path)
            monitor.finish_session(record)
        except Exception as exc:  # noqa: BLE001
            monitor.report_internal_error("websocket.finish", exc)
