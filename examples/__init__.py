"""The example apps: copy from here.

The same files ship inside gatewatch as ``gatewatch.demo.apps`` (``pyproject.toml`` maps that
package onto this directory), which is what ``gatewatch demo`` serves, so an installed gatewatch
runs them from any directory::

    uvicorn gatewatch.demo.apps.starlette_app:wrapped          # installed
    uvicorn examples.starlette_app:wrapped                     # from a checkout

Nothing in them names the ``examples`` package: imports are relative and the Django project
derives its module paths from ``__package__``, so they work under either name, and under
yours once copied.
"""
