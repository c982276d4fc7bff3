"""A Django project served both ways with one settings file.

WSGI:  gunicorn -c examples/gunicorn.conf.py -w 2 examples.django_project.wsgi:application
ASGI:  uvicorn examples.django_project.asgi:application   (HTTP and Channels WebSockets)

Run from the repository root. ``EXAMPLE_SYNC_MIDDLEWARE=1`` adds a sync-only
middleware, the common mistake under ASGI (``gatewatch.W002``).
"""
