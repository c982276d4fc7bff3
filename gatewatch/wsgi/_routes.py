"""Route templates from WSGI frameworks' requests (Werkzeug; Flask while its request is live)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def werkzeug_route(environ: Mapping[str, Any]) -> str | None:
    """The URL rule a Werkzeug request matched, while that request is in the environ.

    A plain Werkzeug app leaves it there; Flask keeps it there while the view runs (what the
    live view reads of a request in flight) and clears it before the response is closed
    (:mod:`gatewatch.integrations.flask` names finished Flask requests instead).
    """
    request = environ.get("werkzeug.request")
    if request is None:
        return None
    rule = getattr(request, "url_rule", None)
    template = getattr(rule, "rule", None)
    return template if isinstance(template, str) else None
