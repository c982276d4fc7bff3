"""Serve the live view as JSON, safe by default.

Without a token only loopback clients (127.0.0.0/8, ::1) get an answer, and only when the
``Host`` header names a loopback host too (``127.0.0.1``, ``[::1]``, ``localhost``, any port)
and the request carries no proxy's forwarding header (``Forwarded``, ``X-Forwarded-For``,
``X-Real-IP``). Behind a proxy on the same host every client looks local; a proxy that adds
no forwarding header (nginx ``proxy_pass`` without ``X-Forwarded-For``, HAProxy in TCP mode, a
plain TCP forwarder) still passes on the ``Host`` the client asked for, which then names the
public host. What stays local on purpose is a tunnel to a loopback name: ``ssh -L 9000:127.0.0.1:8000``
or ``kubectl port-forward`` with ``curl http://127.0.0.1:9000/...``.
With a token, every request must carry ``Authorization: Bearer <token>``, loopback included.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable

from gatewatch.live.state import LiveState
from gatewatch.types import ASGIApp, Environ, Receive, Scope, Send, StartResponse, WSGIApp

_FORWARDING_HEADERS = frozenset({b"forwarded", b"x-forwarded-for", b"x-real-ip"})
_FORWARDING_ENVIRON_KEYS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")
_REASONS = {200: "OK", 403: "Forbidden", 405: "Method Not Allowed"}
_FORBIDDEN = b'{"error":"forbidden: the live view answers loopback clients, or a valid live_token"}'
_NOT_ALLOWED = b'{"error":"method not allowed: use GET"}'


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is a loopback address (IPv4-mapped IPv6 included); names are not."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_host_header(host: str | None) -> bool:
    """Whether a ``Host`` header value names a loopback host: an address, or ``localhost``."""
    if not host:
        return False
    host = host.strip()
    if host.startswith("["):
        name, bracket, _ = host[1:].partition("]")
        if not bracket:
            return False
    else:
        name, colon, port = host.rpartition(":")
        if not colon or not port.isdigit():
            name = host
    name = name.lower().rstrip(".")
    return name == "localhost" or is_loopback(name)


def authorize(
    client_host: str | None,
    authorization: str | None,
    token: str | None,
    *,
    host: str | None,
    forwarded: bool = False,
) -> bool:
    """May this client read the live view? ``authorization`` and ``host`` are the raw header
    values; ``forwarded`` says the request carried a proxy's forwarding header."""
    if token is not None:
        if authorization is None:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode("utf-8", "replace"), token.encode())
    return not forwarded and is_loopback(client_host) and is_loopback_host_header(host)


def live_body(state: LiveState) -> bytes:
    """The JSON document the endpoint serves: ``{"schema", "time", "processes": [...]}``."""
    return json.dumps(state.view(), separators=(",", ":")).encode()


def _respond(state: LiveState, method: str, allowed: bool) -> tuple[int, list[tuple[str, str]], bytes]:
    if not allowed:
        status, body = 403, _FORBIDDEN
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
    if status == 405:
        headers.append(("Allow", "GET, HEAD"))
    return status, headers, b"" if method == "HEAD" else body


def live_asgi_app(state: LiveState, *, token: str | None = None) -> ASGIApp:
    """An ASGI app (HTTP scopes) answering with :func:`live_body`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        authorization = host = None
        forwarded = False
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
            elif name in _FORWARDING_HEADERS:
                forwarded = True
        client = scope.get("client")
        allowed = authorize(
            client[0] if client else None, authorization, token, host=host, forwarded=forwarded
        )
        status, headers, body = _respond(state, scope.get("method", "GET"), allowed)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def live_wsgi_app(state: LiveState, *, token: str | None = None) -> WSGIApp:
    """A WSGI app answering with :func:`live_body`."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        forwarded = any(key in environ for key in _FORWARDING_ENVIRON_KEYS)
        allowed = authorize(
            environ.get("REMOTE_ADDR"),
            environ.get("HTTP_AUTHORIZATION"),
            token,
            host=environ.get("HTTP_HOST"),
            forwarded=forwarded,
        )
        status, headers, body = _respond(state, environ.get("REQUEST_METHOD", "GET"), allowed)
        start_response(f"{status} {_REASONS[status]}", headers)
        return [body]

    return app
