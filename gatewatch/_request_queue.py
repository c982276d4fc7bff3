"""Time a request waited before the application saw it, from a timestamp header a proxy
(or load balancer) set when it forwarded the request.

nginx: ``proxy_set_header X-Request-Start "t=${msec}";`` (seconds with a fraction);
Heroku's router and others send milliseconds or microseconds since the epoch. The unit
is told by the magnitude, as the APM agents that read this header do.
"""

from __future__ import annotations

# Waits longer than this are clock trouble, not queueing.
MAX_QUEUE_SECONDS = 3600.0


def queue_seconds(value: str | bytes, now: float) -> float | None:
    """Seconds between the header's timestamp and ``now`` (``time.time()``), at least 0;
    None when the value is not a timestamp."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = value.strip()
    if text.startswith("t="):
        text = text[2:]
    try:
        stamp = float(text)
    except ValueError:
        return None
    if stamp != stamp or stamp <= 0:  # NaN or nonsense
        return None
    if stamp > 1e14:
        stamp /= 1e6  # microseconds
    elif stamp > 1e11:
        stamp /= 1e3  # milliseconds
    waited = now - stamp
    if waited > MAX_QUEUE_SECONDS or waited < -MAX_QUEUE_SECONDS:
        return None
    # A proxy clock slightly ahead of ours: it did not wait a negative time.
    return max(waited, 0.0)


def environ_key(header: str) -> str:
    """The WSGI environ key of an HTTP header: ``X-Request-Start`` -> ``HTTP_X_REQUEST_START``."""
    return "HTTP_" + header.upper().replace("-", "_")


def check_header(name: str, value: object) -> None:
    """Validate a header-name option (``None``: off)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a header name or None, got {type(value).__name__}")
    if not value or not all(c.isalnum() or c == "-" for c in value):
        raise ValueError(f"{name} must be an HTTP header name such as 'X-Request-Start', got {value!r}")
