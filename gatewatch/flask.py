"""Flask: name the route (the URL rule) and see exceptions Flask turns into 500 pages.

Flask clears its request from the WSGI environ before the response is closed, so
gatewatch listens to Flask's own signals instead, while the request is live.
:class:`~gatewatch.GatewatchWSGI` calls :func:`annotate_flask` by itself when it wraps
a Flask app or its ``wsgi_app``.
"""

from __future__ import annotations

import sys
import weakref
from typing import Any

from gatewatch.record import current_record

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
    """Connect gatewatch to ``app``'s signals, once."""
    if app in _annotated:
        return
    from flask import got_request_exception, request_started

    global _request_context
    import flask.globals

    _request_context = getattr(flask.globals, "_cv_request", None)
    request_started.connect(_on_request_started, app, weak=False)
    got_request_exception.connect(_on_exception, app, weak=False)
    _annotated.add(app)


def _on_request_started(sender: Any, **extra: Any) -> None:
    record = current_record.get()
    if record is None:
        return
    # Flask's request context, read directly: the ``flask.request`` proxy costs a look-up
    # more, on every request. (A Flask without the variable: the proxy.)
    if _request_context is not None:
        context = _request_context.get(None)
        rule = context.request.url_rule if context is not None else None
    else:
        from flask import request

        rule = request.url_rule
    if rule is not None:
        record.route = rule.rule


def _on_exception(sender: Any, exception: BaseException | None = None, **extra: Any) -> None:
    record = current_record.get()
    if record is not None and exception is not None:
        record.exception = exception
