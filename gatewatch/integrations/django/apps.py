"""The ``gatewatch.integrations.django`` app: system checks and the exception hook."""

from __future__ import annotations

from django.apps import AppConfig


class GatewatchConfig(AppConfig):
    name = "gatewatch.integrations.django"
    label = "gatewatch"
    verbose_name = "gatewatch"

    def ready(self) -> None:
        from gatewatch.integrations.django import checks, exceptions

        checks.register_checks()
        exceptions.connect()
