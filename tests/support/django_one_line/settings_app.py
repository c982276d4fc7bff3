"""The one line, then the first optional step: ``gatewatch.integrations.django`` in ``INSTALLED_APPS``."""

from __future__ import annotations

from .settings import *  # noqa: F403

INSTALLED_APPS = ["gatewatch.integrations.django"]
