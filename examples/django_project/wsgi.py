"""WSGI entry point:
``gunicorn -c examples/gunicorn.conf.py -w 2 examples.django_project.wsgi:application``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from gatewatch import GatewatchWSGI

# This package's settings, whatever it is called (see asgi.py).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"{__package__}.settings")

# The outer middleware sees the whole request (the server's view of it); the Django
# middleware inside names the route and view on the same record.
application = GatewatchWSGI(get_wsgi_application())
