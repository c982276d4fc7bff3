"""Shared set-up of the in-process Django tests: settings pointing at a fresh registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from pytest_django.fixtures import Settings

from gatewatch.asgi import _offload as thread_offload
from tests.support.scrape import samples

VIEW_INFO = "gatewatch_route_view_info"
OFFLOAD_COUNT = "gatewatch_http_request_offload_seconds_count"
# Per route, the total (the offload histogram is per route with series="full" only).
ROUTE_OFFLOAD = "gatewatch_http_route_offload_seconds_total"
HOPS = "gatewatch_http_request_thread_hops_total"


@pytest.fixture
def django_registry(settings: Settings, registry: CollectorRegistry) -> Iterator[CollectorRegistry]:
    """``GATEWATCH["REGISTRY"]`` is this test's fresh registry; asgiref is left unpatched after."""
    settings.GATEWATCH = {"REGISTRY": registry}
    yield registry
    thread_offload.uninstall()


def by_route(text: str, name: str, interface: str) -> dict[str, float]:
    """``name``'s samples of ``interface`` summed per route label."""
    out: dict[str, float] = {}
    for (sample_name, labels), number in samples(text).items():
        found = dict(labels)
        if sample_name == name and found.get("interface") == interface:
            out[found["route"]] = out.get(found["route"], 0.0) + number
    return out


def views(text: str) -> dict[str, tuple[str, str]]:
    """route -> (view, view_kind) from ``gatewatch_route_view_info``."""
    out: dict[str, tuple[str, str]] = {}
    for (sample_name, labels), _ in samples(text).items():
        if sample_name == VIEW_INFO:
            found = dict(labels)
            out[found["route"]] = (found["view"], found["view_kind"])
    return out
