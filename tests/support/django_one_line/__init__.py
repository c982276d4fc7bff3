"""A Django project as a user starts one, plus the one line: ``GatewatchMiddleware`` first in
``MIDDLEWARE`` and nothing else of gatewatch (no app, no URLconf entry, plain ``wsgi.py`` and
``asgi.py``). ``settings_app`` is the same with ``gatewatch.integrations.django`` in ``INSTALLED_APPS``."""
