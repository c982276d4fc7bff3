"""The ``GATEWATCH`` settings dict: read once, every problem named with its key.

The same reading backs the system checks (``manage.py check``) and the middleware's
start-up, so a bad value is reported by ``check`` and stops a server from starting.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from prometheus_client.registry import CollectorRegistry

from gatewatch.options import DEFAULT_LIVE_PATH, DEFAULT_MAX_ROUTES, check_live, check_loop_options

SETTING = "GATEWATCH"


class GatewatchSettingsError(ImproperlyConfigured, ValueError):
    """A bad ``settings.GATEWATCH``; the message names the key."""


@dataclass(frozen=True)
class DjangoOptions:
    # Distinct route labels before new routes count as "<other>".
    max_routes: int = DEFAULT_MAX_ROUTES
    # Thread CPU time per request (a system call or two per request).
    cpu_time: bool = True
    # Hand-offs to threads through asgiref's sync_to_async (Django's sync code under ASGI).
    track_offload: bool = True
    # The registry /metrics reads and a lone middleware exports to (None: the global one).
    registry: CollectorRegistry | None = None
    # A synchronous step holding the event loop longer than this is a loop block (None: off).
    block_threshold: float | None = 0.05
    # How often the event-loop lag is sampled when this middleware serves alone (None: off).
    loop_lag_interval: float | None = 0.1
    # When set, the live view answers requests carrying "Authorization: Bearer <token>"
    # (from anywhere); when None it answers loopback clients only.
    live_token: str | None = None


@dataclass(frozen=True)
class Problem:
    id: str
    key: str
    message: str
    hint: str | None = None


_KEYS = {
    "MAX_ROUTES": "max_routes",
    "CPU_TIME": "cpu_time",
    "TRACK_OFFLOAD": "track_offload",
    "REGISTRY": "registry",
    "LIVE_TOKEN": "live_token",
    "BLOCK_THRESHOLD": "block_threshold",
    "LOOP_LAG_INTERVAL": "loop_lag_interval",
}


def read_options(raw: Any) -> tuple[DjangoOptions, list[Problem]]:
    """The options ``raw`` describes, and every problem found (defaults stand in for bad values)."""
    if raw is None:
        return DjangoOptions(), []
    if not isinstance(raw, dict):
        return DjangoOptions(), [
            Problem("gatewatch.E001", SETTING, f"{SETTING} must be a dict, got {type(raw).__name__}.")
        ]
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(sorted(_KEYS))}."
            problems.append(Problem("gatewatch.E002", f"{SETTING}[{key!r}]", "Unknown key.", hint))
            continue
        problem = _check_value(key, value)
        if problem is not None:
            problems.append(problem)
        else:
            values[_KEYS[key]] = value
    return DjangoOptions(**values), problems


def _check_value(key: str, value: Any) -> Problem | None:
    name = f"{SETTING}[{key!r}]"
    if key == "MAX_ROUTES":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return Problem("gatewatch.E003", name, f"{name} must be an int of at least 1, got {value!r}.")
    elif key in ("CPU_TIME", "TRACK_OFFLOAD"):
        if not isinstance(value, bool):
            return Problem("gatewatch.E004", name, f"{name} must be True or False, got {value!r}.")
    elif key == "REGISTRY":
        if value is not None and not isinstance(value, CollectorRegistry):
            return Problem(
                "gatewatch.E005", name,
                f"{name} must be a prometheus_client CollectorRegistry or None, "
                f"got {type(value).__name__}.",
            )
    elif key in ("BLOCK_THRESHOLD", "LOOP_LAG_INTERVAL"):
        try:
            check_loop_options(**{_KEYS[key]: value})
        except (TypeError, ValueError) as exc:
            # The check names the keyword argument; the user wrote the setting.
            message = str(exc).replace(_KEYS[key], name, 1)
            return Problem("gatewatch.E007", name, f"{message}.")
    elif key == "LIVE_TOKEN" and value is not None:
        try:
            check_live(live_path=DEFAULT_LIVE_PATH, live_token=value, metrics_path=None)
        except (TypeError, ValueError) as exc:
            return Problem("gatewatch.E006", name, f"{name}: {exc}.")
    return None


def configured_options() -> DjangoOptions:
    """``settings.GATEWATCH`` checked; raises :class:`GatewatchSettingsError` naming the first bad key."""
    options, problems = read_options(getattr(settings, SETTING, None))
    if problems:
        first = problems[0]
        hint = f" {first.hint}" if first.hint else ""
        raise GatewatchSettingsError(f"{first.key}: {first.message}{hint} ({first.id})")
    return options
