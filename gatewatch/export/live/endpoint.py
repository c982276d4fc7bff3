"""Serve the live view as JSON, to bearers of the token only.

Headers cannot tell a local user from a stranger: behind nginx with its defaults
(``proxy_pass`` sends ``Host: $proxy_host`` and no forwarding header) or any TCP forwarder on the
same host, a stranger's request arrives from a loopback peer asking for a loopback host. So over
HTTP the live view answers only ``Authorization: Bearer <live_token>``, loopback included; without
a ``live_token`` it answers nobody (403, with a line saying how to enable it). Local users read
without a token through a channel the operating system guards: the owner-only snapshot directory
(:mod:`gatewatch.export.live.local_dir`) that ``gatewatch top`` reads with no URL.
"""

from __future__ import annotations

import hmac
from asyncio.events import _get_running_loop
from collections.abc import Iterable
from typing import Protocol

from gatewatch.export.live.state import LiveState
from gatewatch.types import ASGIApp, Environ, Receive, Scope, Send, StartResponse, WSGIApp

_REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 405: "Method Not Allowed"}
# Every client gets the same answer: nothing in a request can make the view local.
NOT_ENABLED = (
    b'{"error":"the live view over HTTP is off: set live_token (GATEWATCH_LIVE_TOKEN; Django: '
    b'GATEWATCH[\\"LIVE_TOKEN\\"]) and send '
    b"Authorization: Bearer <token>; on this host, run gatewatch top with no URL (it reads the "
    b'owner-only snapshot directory)"}'
)
UNAUTHORIZED = b'{"error":"unauthorized: send Authorization: Bearer <live_token>"}'
_NOT_ALLOWED = b'{"error":"method not allowed: use GET"}'


def authorize(authorization: str | None, token: str | None) -> int:
    """The status a request with this raw ``Authorization`` value gets before its method is
    looked at: 200 for the token's bearer, 401 without it, 403 when no token is configured."""
    if token is None:
        return 403
    if authorization is None:
        return 401
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return 401
    if hmac.compare_digest(credentials.strip().encode("utf-8", "replace"), token.encode()):
        return 200
    return 401


class ViewSource(Protocol):
    """What answers the live view: a process's :class:`LiveState`, or the workers' snapshot
    directory read from gunicorn's arbiter (:mod:`gatewatch.export.side_server`)."""

    def view_json(self) -> bytes: ...


def live_body(state: ViewSource) -> bytes:
    """The JSON document the endpoint serves: ``{"schema", "time", "processes": [...]}``."""
    return state.view_json()


def _respond(state: ViewSource, method: str, allowed: int) -> tuple[int, list[tuple[str, str]], bytes]:
    if allowed == 403:
        status, body = 403, NOT_ENABLED
    elif allowed == 401:
        status, body = 401, UNAUTHORIZED
    elif method not in ("GET", "HEAD"):
        status, body = 405, _NOT_ALLOWED
    else:
        status, body = 200, live_body(state)
    headers = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Length", str(len(body))),
    ]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="gatewatch"'))
    if status == 405:
        headers.append(("Allow", "GET, HEAD"))
    return status, headers, b"" if method == "HEAD" else body


def live_asgi_app(state: LiveState, *, token: str | None = None) -> ASGIApp:
    """An ASGI app (HTTP scopes) answering with :func:`live_body`, built off the event loop."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        authorization = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value.decode("latin-1")
        method, allowed = scope.get("method", "GET"), authorize(authorization, token)
        loop = _get_running_loop()  # None under trio: built here then
        if loop is None or allowed != 200:
            status, headers, body = _respond(state, method, allowed)
        else:
            # Built on the live view's own thread, never on the loop: the loop waits at most one
            # slice of it for the GIL (gatewatch.export.live._fragments), and never for a thread
            # of the app's (the loop's default executor may be full of them).
            built = loop.run_in_executor(state.builder(), _respond, state, method, allowed)
            status, headers, body = await built
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def live_wsgi_app(state: ViewSource, *, token: str | None = None) -> WSGIApp:
    """A WSGI app answering with :func:`live_body`."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        allowed = authorize(environ.get("HTTP_AUTHORIZATION"), token)
        status, headers, body = _respond(state, environ.get("REQUEST_METHOD", "GET"), allowed)
        start_response(f"{status} {_REASONS[status]}", headers)
        return [body]

    return app
