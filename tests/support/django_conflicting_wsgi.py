"""A wsgi.py that contradicts the project's GATEWATCH settings (gatewatch.E008)."""

from __future__ import annotations

from django.core.wsgi import get_wsgi_application

from gatewatch import GatewatchWSGI

application = GatewatchWSGI(get_wsgi_application(), max_routes=30)
