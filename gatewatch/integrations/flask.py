"""Flask: name the route (the URL rule) and see exceptions Flask turns into 500 pages.

Flask clears its request from the WSGI environ before the response is closed, so
gatewatch reads it while it is still current: when the application starts its response
(:func:`name_route`, called by :class:`~gatewatch.GatewatchWSGI` from its
``start_response``), and when Flask reports an exception through its
``got_request_exception`` signal (which also names the route of a request that never starts
a response). Flask's ``request_started`` signal would name it too, but a receiver on it
costs every request a signal dispatch (about a tenth of gatewatch's own work per request).
:class:`~gatewatch.GatewatchWSGI` calls :func:`annotate_flask` by itself when it wraps a
Flask app or its ``wsgi_app``.
"""

from __future__ import annotations

import sys
import weakref
from typing import Any

from gatewatch.record import RequestRecord, current_record

_annotated: weakref.WeakSet[Any] = weakref.WeakSet()
# Flask's request-context variable, once Flask is loaded (annotate_flask).
_request_context: Any = None


def flask_app_of(app: object) -> Any | None:
    """The Flask application behind ``app`` (the app itself or its bound ``wsgi_app``)."""
    flask = sys.modules.get("flask")
    if flask is None:
        return None
    owner = getattr(app, "__self__", app)
    return owner if isinstance(owner, flask.Flask) else None


def annotate_flask(app: Any) -> None:
    """Connect gatewatch to ``app``'s exception signal, once."""
    if app in _annotated:
        return
    from flask import got_request_exception

    global _request_context
    import flask.globals

    _request_context = getattr(flask.globals, "_cv_request", None)
    got_request_exception.connect(_on_exception, app, weak=False)
    _annotated.add(app)


def name_route(record: RequestRecord) -> None:
    """Name ``record``'s route from Flask's current request, if there is one and it matched."""
    # Flask's request context, read directly: the ``flask.request`` proxy costs a look-up
    # more, on every request. (A Flask without the variable: the proxy.)
    if _request_context is not None:
        context = _request_context.get(None)
        if context is None:
            return
        rule = context.request.url_rule
    else:
        from flask import has_request_context, request

        if not has_request_context():
            return
        rule = request.url_rule
    if rule is not None:
        record.route = rule.rule


def _on_exception(sender: Any, exception: BaseException | None = None, **extra: Any) -> None:
    record = current_record.get()
    if record is None:
        return
    if exception is not None:
        record.exception = exception
    if record.route is None:
        name_route(record)
