"""gatewatch's terminal dashboard (``gatewatch top``), installed with ``gatewatch[dashboard]``.

It lives apart from the middleware package on purpose: it only reads what a
process exports (the live JSON, a ``/metrics`` page or a Prometheus server) and
never imports the middleware's internals. The import name is ``gatewatch_dashboard``
because a different PyPI package already owns the bare name ``dashboard``.
"""
