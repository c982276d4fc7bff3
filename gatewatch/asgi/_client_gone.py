"""Has the client of an HTTP request gone? Read from the server's own state behind ``send``.

ASGI 2.4 lets ``send`` raise ``OSError`` on a closed connection (gatewatch counts that as a
disconnect), but for HTTP uvicorn (0.54, h11 and httptools: spec 2.3) and hypercorn (0.18,
asyncio and trio workers: spec 2.1) drop such a send silently. An app that never calls
``receive()`` (a raw stream, a handler that thinks for long) never sees ``http.disconnect``
either, so without this its request would be recorded as a full 200.

Both servers hand the app a bound method of a per-request object that knows:

* uvicorn: ``RequestResponseCycle.send``; ``connection_lost`` sets ``cycle.disconnected``
  while the response is incomplete, and from then on ``send`` returns without writing;
* hypercorn: ``HTTPStream.app_send``; the connection closing sets ``stream.closed`` (and
  queues ``http.disconnect``). The stream's own end sets it too, inside the final send, so
  it must be read before that send.

Only read, never called: the app's messages and what it receives are untouched. Anything
else behind ``send`` (another server, a middleware outside gatewatch) answers False.
"""

from __future__ import annotations

from types import MethodType
from typing import Final

from gatewatch.types import Send

# Types seen behind ``send`` -> their "client gone" attribute (None: none known). Servers
# make one or two such types; the bound keeps a process that sees odd sends from growing it.
_flags: dict[type, str | None] = {}
_MAX_TYPES: Final = 32


def _flag_of(kind: type) -> str | None:
    module, name = kind.__module__, kind.__qualname__
    if name == "RequestResponseCycle" and module.startswith("uvicorn.protocols.http."):
        return "disconnected"
    if name == "HTTPStream" and module == "hypercorn.protocol.http_stream":
        return "closed"
    return None


def client_gone(send: Send) -> bool:
    """True when the server behind ``send`` already knows the client has gone, so it will
    drop the next message; False when it does not, or when gatewatch cannot tell.

    Call it before the send: hypercorn marks every stream closed once its response ended.
    """
    # Both servers' sends are bound methods; anything else (a function, a middleware's
    # callable) is told apart by one type check, not an attribute look-up that fails.
    if type(send) is not MethodType:
        return False
    try:
        owner = send.__self__
        kind = type(owner)
        try:
            flag = _flags[kind]
        except KeyError:
            flag = _flag_of(kind)
            if len(_flags) < _MAX_TYPES:
                _flags[kind] = flag
        return flag is not None and getattr(owner, flag, False) is True
    except Exception:  # noqa: BLE001 - an odd send must never fail the request
        return False
