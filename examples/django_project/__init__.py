"""A Django project served both ways with one settings file.

WSGI:  gunicorn -c examples/gunicorn.conf.py -w 2 examples.django_project.wsgi:application
ASGI:  uvicorn examples.django_project.asgi:application   (HTTP and Channels WebSockets)

from a checkout's root; installed, the package is ``gatewatch.demo.apps.django_project``
(``uvicorn gatewatch.demo.apps.django_project.asgi:application`` from any directory). The
module paths in the settings and entry points follow ``__package__``, so a copy renamed to
``mysite`` needs no edit. ``EXAMPLE_SYNC_MIDDLEWARE=1`` adds a sync-only middleware, the
common mistake under ASGI (``gatewatch.W002``).
"""
