"""Django: ``gatewatch.integrations.django.GatewatchMiddleware`` first in ``settings.MIDDLEWARE``.

That line records every request and answers ``/metrics`` and the live view. Optional:
``"gatewatch.integrations.django"`` in ``INSTALLED_APPS`` for the system checks (``manage.py check`` then
lists the other optional steps), ``include("gatewatch.integrations.django.urls")`` to mount the pages
yourself, and ``GatewatchWSGI`` / ``GatewatchASGI`` around ``wsgi.py`` / ``asgi.py``.
"""

from gatewatch.integrations.django.middleware import GatewatchMiddleware

__all__ = ["GatewatchMiddleware"]
