"""gunicorn configuration for the examples, and the one a project copies: gatewatch's hooks
give every worker one multiprocess directory, so /metrics shows the whole server."""

from gatewatch.integrations.gunicorn import *  # noqa: F403
