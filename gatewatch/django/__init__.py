"""Django: ``gatewatch.django.GatewatchMiddleware`` first in ``settings.MIDDLEWARE``.

Add ``"gatewatch.django"`` to ``INSTALLED_APPS`` for the system checks and
``path("", include("gatewatch.django.urls"))`` for ``/metrics`` and the live view.
"""

from gatewatch.django.middleware import GatewatchMiddleware

__all__ = ["GatewatchMiddleware"]
