"""The ``GATEWATCH`` settings dict: read once, every problem named with its key.

Its keys are :class:`gatewatch.options.Options`' names in upper case (``MAX_ROUTES``,
``LIVE_TOKEN``, ``EXCLUDE_PATHS``...). The same reading backs the system checks
(``manage.py check``), the middleware's start-up, and the outer ``GatewatchASGI`` /
``GatewatchWSGI`` when they wrap the project (the settings then govern both layers), so a bad
value is reported by ``check`` and stops a server from starting.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from gatewatch.options import Options, layered, normalise

SETTING = "GATEWATCH"
# Django's default for ``metrics_path``: with the one MIDDLEWARE line, GatewatchMiddleware
# answers the scrape itself (where the project's URLconf routes nothing). The outer
# GatewatchASGI/GatewatchWSGI keep the library's default (no page) unless the key is set.
DEFAULT_METRICS_PATH = "/metrics"


class GatewatchSettingsError(ImproperlyConfigured, ValueError):
    """A bad ``settings.GATEWATCH``; the message names the key."""


@dataclass(frozen=True)
class Problem:
    id: str
    key: str
    message: str
    hint: str | None = None


_KEYS = {option.name.upper(): option.name for option in dataclasses.fields(Options)}
# The ids the checks have always used for these keys; any other bad value is E009.
_IDS = {
    "MAX_ROUTES": "gatewatch.E003",
    "CPU_TIME": "gatewatch.E004",
    "TRACK_OFFLOAD": "gatewatch.E004",
    "REGISTRY": "gatewatch.E005",
    "LIVE_TOKEN": "gatewatch.E006",
    "BLOCK_THRESHOLD": "gatewatch.E007",
    "LOOP_LAG_INTERVAL": "gatewatch.E007",
}


def read_settings(raw: Any) -> tuple[dict[str, Any], list[Problem]]:
    """The options ``raw`` sets (by option name, only the keys present) and every problem found."""
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        message = f"{SETTING} must be a dict, got {type(raw).__name__}."
        return {}, [Problem("gatewatch.E001", SETTING, message)]
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{SETTING}[{key!r}]"
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(sorted(_KEYS))}."
            problems.append(Problem("gatewatch.E002", name, "Unknown key.", hint))
            continue
        option = _KEYS[key]
        try:
            normalised = normalise(option, value)
            Options(**{option: normalised})
        except (TypeError, ValueError) as exc:
            # The check names the option; the user wrote the setting.
            message = str(exc).replace(option, name, 1)
            problems.append(Problem(_IDS.get(key, "gatewatch.E009"), name, f"{message}."))
            continue
        values[option] = normalised
    return values, problems


def project_settings() -> dict[str, Any]:
    """The options ``settings.GATEWATCH`` sets; :class:`GatewatchSettingsError` naming the first bad key."""
    values, problems = read_settings(getattr(settings, SETTING, None))
    if problems:
        first = problems[0]
        hint = f" {first.hint}" if first.hint else ""
        raise GatewatchSettingsError(f"{first.key}: {first.message}{hint} ({first.id})")
    return values


def configured_options() -> Options:
    """The options of the project: ``settings.GATEWATCH`` under the ``GATEWATCH_*`` environment,
    ``metrics_path`` defaulting to :data:`DEFAULT_METRICS_PATH`."""
    project = project_settings()
    project.setdefault("metrics_path", DEFAULT_METRICS_PATH)
    return layered({}, project=project)
