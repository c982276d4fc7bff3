"""GatewatchWSGI refuses, at construction, an object it cannot serve (an ASGI app, a
non-callable), naming it, and accepts any other callable."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchWSGI
from gatewatch.types import Environ, StartResponse
from tests.support.wsgi_driver import call, make_environ, plain_app

pytestmark = pytest.mark.usefixtures("wsgi_warnings_are_errors")


class AsyncCallable:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


class SyncCallable:
    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]


class ClassApp:
    """PEP 3333's class-based application: calling the class makes the response iterable."""

    def __init__(self, environ: Environ, start_response: StartResponse) -> None:
        start_response("200 OK", [])

    def __iter__(self) -> Iterator[bytes]:
        yield b"from a class"


async def asgi_function(scope: Any, receive: Any, send: Any) -> None:
    return None


def starlette_app() -> object:
    from starlette.applications import Starlette

    return Starlette()


def fastapi_app() -> object:
    fastapi = pytest.importorskip("fastapi")
    return fastapi.FastAPI()


@pytest.mark.parametrize(
    "make",
    [
        starlette_app,
        fastapi_app,
        AsyncCallable,
        lambda: asgi_function,
        lambda: functools.partial(asgi_function, {}),
    ],
    ids=["starlette", "fastapi", "async __call__", "async def", "partial"],
)
def test_an_asgi_app_is_refused_at_construction(make: Callable[[], object]) -> None:
    with pytest.raises(TypeError, match=r"^GatewatchWSGI wraps a WSGI application") as caught:
        GatewatchWSGI(make(), registry=CollectorRegistry())  # type: ignore[arg-type]
    message = str(caught.value)
    assert "got an ASGI application (" in message
    assert message.endswith("as app: wrap it with GatewatchASGI instead")


def test_the_refusal_names_the_asgi_app() -> None:
    with pytest.raises(TypeError, match=r"\(starlette\.applications\.Starlette, its __call__ is async\)"):
        GatewatchWSGI(starlette_app(), registry=CollectorRegistry())  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"\(tests\.wsgi\.test_wsgi_app_check\.asgi_function, its __call__ is async\)"
    ):
        GatewatchWSGI(asgi_function, registry=CollectorRegistry())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("app", "got"),
    [
        (None, "got None as app"),
        (42, "got a builtins.int as app, which is not callable"),
        (
            "app:application",
            "got a builtins.str as app, which is not callable: pass the application "
            "object, not its import string",
        ),
    ],
)
def test_a_non_callable_is_refused_at_construction(app: object, got: str) -> None:
    with pytest.raises(TypeError, match=r"^GatewatchWSGI wraps a WSGI application") as caught:
        GatewatchWSGI(app, registry=CollectorRegistry())  # type: ignore[arg-type]
    assert str(caught.value).endswith(got)


def test_anything_else_callable_is_accepted(registry: CollectorRegistry) -> None:
    from flask import Flask

    flask = Flask("accepted")
    for app in (plain_app, SyncCallable(), ClassApp, functools.partial(plain_app), flask, flask.wsgi_app):
        GatewatchWSGI(app, registry=registry)
    response = call(GatewatchWSGI(ClassApp, registry=registry), make_environ("/class"))
    assert response.body == b"from a class"
