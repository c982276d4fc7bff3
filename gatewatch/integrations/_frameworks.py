"""What the middlewares learn from the framework they wrap, once, at construction.

Each framework is recognised only through what the process has already imported (nothing
here imports a framework that is not loaded), and the knowledge of each stays in its own
module (:mod:`gatewatch.integrations.flask`, :mod:`gatewatch.integrations.django`); the
middlewares call only this.

- Django (its ``WSGIHandler`` / ``ASGIHandler``, or a Channels ``ProtocolTypeRouter``
  holding one): the project's ``settings.GATEWATCH`` govern the outer middleware too, and
  gatewatch's own Django views (``gatewatch.integrations.django.urls``: ``/metrics``, the live view) are
  not recorded as the project's routes.
- Channels: the ``URLRouter`` patterns name WebSocket sessions.
- Flask: its URL rules name the routes (read when the app starts its response) and its
  exception signal reports the exceptions it handles.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gatewatch.options import Options, layered
from gatewatch.record import RequestRecord


@dataclass(frozen=True)
class Framework:
    """What a wrapped application's framework contributes to the middleware's set-up."""

    # Options its settings set (by option name), and where they come from.
    settings: dict[str, Any] = field(default_factory=dict)
    settings_source: str = ""
    # Paths of gatewatch's own pages that the framework serves (never recorded).
    own_paths: tuple[str, ...] = ()
    # Names a WSGI request's route when the app starts its response, while the framework's
    # own request is still current (Flask); None: the framework names it otherwise.
    name_route: Callable[[RequestRecord], None] | None = None

    def options(self, given: dict[str, Any]) -> Options:
        """The middleware's options: the keywords ``given``, over the environment, over this
        framework's settings, over the defaults."""
        return layered(given, project=self.settings, project_source=self.settings_source)


def for_asgi(app: object) -> Framework:
    if "channels.routing" in sys.modules:
        # Channels routes by copying the scope, so its URLRouter patterns are named from
        # inside, once, here.
        from gatewatch.integrations.django.channels import name_channels_routes

        name_channels_routes(app)
    return _django(app)


def for_wsgi(app: object) -> Framework:
    if "flask" in sys.modules:
        from gatewatch.integrations.flask import annotate_flask, flask_app_of, name_route

        flask_app = flask_app_of(app)
        if flask_app is not None:
            annotate_flask(flask_app)
            return Framework(name_route=name_route)
    return _django(app)


def _django(app: object) -> Framework:
    if "django.core.handlers.base" not in sys.modules:
        return Framework()
    from django.core.handlers.base import BaseHandler

    # Channels' ProtocolTypeRouter holds Django's handler as its "http" application.
    mapping = getattr(app, "application_mapping", None)
    handler = mapping.get("http") if isinstance(mapping, dict) else app
    if not isinstance(handler, BaseHandler):
        return Framework()
    from gatewatch.integrations.django.options import SETTING, project_settings
    from gatewatch.integrations.django.urls import own_paths

    return Framework(
        settings=project_settings(), settings_source=f"settings.{SETTING}", own_paths=own_paths()
    )
