"""Drive an ASGI app in process with scripted receive messages, collecting what it sends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gatewatch.types import ASGIApp, Message, Receive, Scope, Send


def http_scope(path: str = "/", method: str = "GET", **extra: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }
    scope.update(extra)
    return scope


class Exchange:
    """One request's messages: what the app will receive, and what it sent."""

    def __init__(
        self, *incoming: Message, send_error: BaseException | None = None, fail_after: int = 0
    ) -> None:
        self.incoming = list(incoming) or [{"type": "http.request", "body": b"", "more_body": False}]
        self.sent: list[Message] = []
        self.send_error = send_error
        self.fail_after = fail_after
        self.wait_forever: Callable[[], Awaitable[Message]] | None = None

    async def receive(self) -> Message:
        if self.incoming:
            return self.incoming.pop(0)
        if self.wait_forever is not None:
            return await self.wait_forever()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.send_error is not None and len(self.sent) >= self.fail_after:
            raise self.send_error
        self.sent.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.sent if m["type"] == "http.response.start"))


async def serve(app: ASGIApp, scope: Scope, exchange: Exchange | None = None) -> Exchange:
    exchange = Exchange() if exchange is None else exchange
    await app(scope, exchange.receive, exchange.send)
    return exchange


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    body = message.get("body", b"")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello " + body})
