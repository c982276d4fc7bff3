"""The one line, then the first optional step: ``gatewatch.django`` in ``INSTALLED_APPS``."""

from __future__ import annotations

from .settings import *  # noqa: F403

INSTALLED_APPS = ["gatewatch.django"]
