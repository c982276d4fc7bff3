"""Refuse, at construction, an ``app`` that the middleware certainly cannot serve.

Wrapped the wrong way round, an application fails on every request with a ``TypeError``
deep inside the server (uvicorn's own ASGI 2 / WSGI detection sees the middleware's async
``__call__``, not the app), so the mistake is caught here and named. Only what is certain
is refused:

- by both: ``None`` and non-callables (an import string gets a hint);
- by GatewatchASGI: callables whose signature cannot take ``(scope, receive, send)``
  (a WSGI app, an ASGI 2 double callable). A signature that cannot be read, a sync
  ``__call__`` returning an awaitable, ``*args`` and decorated functions (read as they are,
  not as ``__wrapped__`` claims) are all accepted;
- by GatewatchWSGI: objects whose function or ``__call__`` is async (an ASGI app). A class is
  accepted (calling a PEP 3333 class-based app builds the response iterable).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Final

from asgiref.sync import iscoroutinefunction

_PREFIX: Final = "GatewatchASGI wraps an ASGI application (async def app(scope, receive, send))"
_WSGI_PREFIX: Final = "GatewatchWSGI wraps a WSGI application (def app(environ, start_response))"
_POSITIONAL: Final = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def check_asgi_app(app: object) -> None:
    """Raise ``TypeError`` saying what to wrap instead when ``app`` is certainly not ASGI 3."""
    app = _check_callable(app, _PREFIX)
    try:
        signature = inspect.signature(app, follow_wrapped=False)
    except (TypeError, ValueError):
        return  # no readable signature (some C callables): nothing is certain
    try:
        signature.bind(None, None, None)
    except TypeError:
        pass
    else:
        return
    parameters = signature.parameters.values()
    positional = sum(1 for parameter in parameters if parameter.kind in _POSITIONAL)
    # A class is called through its constructor, never a coroutine function.
    coroutine = not inspect.isclass(app) and (
        inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(type(app).__call__)
    )
    name = _describe(app)
    if positional == 2 and not coroutine:
        raise TypeError(
            f"{_PREFIX}; got a WSGI application ({name}) as app: wrap it with GatewatchWSGI instead"
        )
    if positional == 1 and not coroutine:
        raise TypeError(
            f"{_PREFIX}; got an ASGI 2 application ({name}, called with the scope alone) as app: "
            "wrap asgiref.compatibility.guarantee_single_callable(app) instead"
        )
    bare = signature.replace(
        parameters=[parameter.replace(annotation=parameter.empty) for parameter in parameters],
        return_annotation=signature.empty,
    )
    raise TypeError(f"{_PREFIX}; got {name}{bare} as app, which cannot be called with (scope, receive, send)")


def check_wsgi_app(app: object) -> None:
    """Raise ``TypeError`` saying what to wrap instead when ``app`` is certainly not WSGI."""
    _check_callable(app, _WSGI_PREFIX)
    if _is_async_callable(app):
        raise TypeError(
            f"{_WSGI_PREFIX}; got an ASGI application ({_describe(app)}, its __call__ is async) as "
            "app: wrap it with GatewatchASGI instead"
        )


def _check_callable(app: object, prefix: str) -> Callable[..., object]:
    if app is None:
        raise TypeError(f"{prefix}; got None as app")
    if not callable(app):
        hint = ": pass the application object, not its import string" if isinstance(app, str) else ""
        raise TypeError(f"{prefix}; got a {_qualified(type(app))} as app, which is not callable{hint}")
    return app


def _is_async_callable(app: object) -> bool:
    # Only an answer that is certain counts; an object whose inspection fails is given the
    # benefit of the doubt.
    if isinstance(app, type):
        return False
    try:
        # The class's __call__, not the instance's: that is what calling the object runs.
        return iscoroutinefunction(app) or iscoroutinefunction(type(app).__call__)
    except Exception:  # noqa: BLE001
        return False


def _qualified(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _describe(app: object) -> str:
    if inspect.ismethod(app):
        return f"{_qualified(type(app.__self__))}.{app.__name__}"
    if inspect.isfunction(app) or inspect.isclass(app):
        return f"{app.__module__}.{app.__qualname__}"
    return _qualified(type(app))
