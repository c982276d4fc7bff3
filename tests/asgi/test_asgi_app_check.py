"""GatewatchASGI refuses, at construction, an object it cannot serve (a WSGI app, an ASGI 2 app,
an async callable of the wrong shape), naming it, and accepts real ASGI apps."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import GatewatchASGI
from gatewatch.types import Receive, Scope, Send
from tests.support.asgi_driver import hello
from tests.support.scrape import value
from tests.support.websocket_driver import Session, websocket_scope
from tests.support.websocket_driver import run as websocket_run
from tests.support.websocket_driver import text as websocket_text

WSGI_HINT = "wrap it with GatewatchWSGI instead"


def flask_app() -> Any:
    from flask import Flask

    return Flask("wrong_wrapper")


def django_wsgi() -> Any:
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    return []


class Asgi2App:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        pass


def asgi2_function(scope: Scope) -> Any:
    return Asgi2App(scope).__call__


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (flask_app, "got a WSGI application (flask.app.Flask) as app: " + WSGI_HINT),
        (
            lambda: flask_app().wsgi_app,
            "got a WSGI application (flask.app.Flask.wsgi_app) as app: " + WSGI_HINT,
        ),
        (django_wsgi, "(django.core.handlers.wsgi.WSGIHandler) as app: " + WSGI_HINT),
        (lambda: wsgi_function, "(tests.asgi.test_asgi_app_check.wsgi_function) as app: " + WSGI_HINT),
        (lambda: None, "got None as app"),
        (lambda: 42, "got a builtins.int as app, which is not callable"),
        (lambda: "main:app", "not callable: pass the application object, not its import string"),
        (
            lambda: Asgi2App,
            "ASGI 2 application (tests.asgi.test_asgi_app_check.Asgi2App, called with the scope alone)",
        ),
        (lambda: asgi2_function, "asgiref.compatibility.guarantee_single_callable(app)"),
    ],
    ids=[
        "flask",
        "flask-wsgi_app",
        "django-wsgi",
        "wsgi-function",
        "none",
        "int",
        "str",
        "asgi2-class",
        "asgi2-function",
    ],
)
def test_wrapping_the_wrong_object_fails_at_construction(
    registry: CollectorRegistry, make: Any, expected: str
) -> None:
    with pytest.raises(TypeError) as caught:
        GatewatchASGI(make(), registry=registry)
    message = str(caught.value)
    assert message.startswith("GatewatchASGI wraps an ASGI application (async def app(scope, receive, send))")
    assert expected in message


def test_an_async_callable_that_cannot_take_scope_receive_send_fails(registry: CollectorRegistry) -> None:
    async def two(scope: Scope, receive: Receive) -> None:
        pass

    with pytest.raises(TypeError, match=r"\(scope, receive\) as app, which cannot be called with"):
        GatewatchASGI(two, registry=registry)  # type: ignore[arg-type]


def real_asgi_apps() -> list[Any]:
    """ASGI 3 apps of every shape gatewatch must keep accepting."""
    import functools

    from channels.routing import ProtocolTypeRouter
    from django.core.asgi import get_asgi_application
    from starlette.applications import Starlette

    class AsyncCall:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            pass

    class SyncCallReturningAwaitable:
        def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
            return hello(scope, receive, send)

    class Awaitable3:
        """uvicorn's ASGI 3 class form: instantiated per request with all three, then awaited."""

        def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
            self.call = hello(scope, receive, send)

        def __await__(self) -> Any:
            return self.call.__await__()

    async def with_prefix(prefix: str, scope: Scope, receive: Receive, send: Send) -> None:
        pass

    def one_arg_handler(request: Any) -> None:
        pass

    @functools.wraps(one_arg_handler)  # __wrapped__ claims (request): the real signature counts
    async def decorated(scope: Scope, receive: Receive, send: Send) -> None:
        pass

    async def anything(*args: Any, **kwargs: Any) -> None:
        pass

    django_asgi = get_asgi_application()
    return [
        hello,
        AsyncCall(),
        SyncCallReturningAwaitable(),
        Awaitable3,
        functools.partial(with_prefix, "/p"),
        decorated,
        anything,
        Starlette(),
        django_asgi,
        ProtocolTypeRouter({"http": django_asgi}),
        print,  # no readable signature, so nothing is certain
    ]


def test_real_asgi_apps_are_accepted(registry: CollectorRegistry) -> None:
    for app in real_asgi_apps():
        GatewatchASGI(app, registry=registry)


def test_starlette_websocket_and_hidden_mounts_are_named_by_templates(registry: CollectorRegistry) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount, WebSocketRoute
    from starlette.websockets import WebSocket

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    hidden = Starlette(routes=[WebSocketRoute("/ws/{room}", echo)])

    async def opaque(scope: Scope, receive: Receive, send: Send) -> None:
        # A mounted app that keeps its routes out of sight (no routes, no app attribute).
        await hidden(scope, receive, send)

    app = Starlette(
        routes=[
            Mount("/t/{tenant}", routes=[WebSocketRoute("/ws", echo)]),
            Mount("/o/{tenant}", app=opaque),
        ]
    )
    wrapped = GatewatchASGI(app, registry=registry)
    for path in ("/t/customer-1/ws", "/t/customer-2/ws", "/o/customer-3/ws/rawroom"):
        session = websocket_run(wrapped, Session(websocket_text("hi")), websocket_scope(path))
        assert session.sent_types() == ["websocket.accept", "websocket.send", "websocket.close"]
    sessions = "gatewatch_websocket_sessions_total"
    assert value(registry, sessions, route="/t/{tenant}/ws", outcome="accepted") == 2
    # The mount's template is out of sight: the route's own template, marked, never the path.
    assert value(registry, sessions, route="…/ws/{room}", outcome="accepted") == 1
    text = generate_latest(registry).decode()
    assert "customer-" not in text and "rawroom" not in text
