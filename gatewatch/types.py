"""The interfaces' types: ASGI aliases (as in asgiref.typing, kept loose: servers send more keys
than the spec) and WSGI aliases (PEP 3333)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from types import TracebackType
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# What the middleware accepts to wrap: any ASGI callable, whatever its own annotations
# (Django's ASGIHandler is annotated with dict scopes, Starlette's with MutableMapping).
WrappedASGIApp = Callable[[Any, Any, Any], Awaitable[Any]]

# -- WSGI (PEP 3333) ---------------------------------------------------------------------
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
Environ = dict[str, Any]
Write = Callable[[bytes], object]
StartResponse = Callable[..., Write]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
