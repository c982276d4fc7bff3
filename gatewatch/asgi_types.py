"""ASGI type aliases (as in asgiref.typing, kept loose: servers send more keys than the spec)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# What the middleware accepts to wrap: any ASGI callable, whatever its own annotations
# (Django's ASGIHandler is annotated with dict scopes, Starlette's with MutableMapping).
WrappedASGIApp = Callable[[Any, Any, Any], Awaitable[Any]]
