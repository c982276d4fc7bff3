"""Django's WSGI handler, called in-process: one hello view behind each contender.

The bench process configures Django itself (``settings.configure``, a URLconf in this
module, no database, no installed apps): it must not depend on the example project.
Django's handlers load ``settings.MIDDLEWARE`` when they are built, and gatewatch's
middleware reads ``settings.GATEWATCH`` then too, so each case builds its handler
inside ``override_settings`` with its own middleware list and registry.

The reference for the ratio column is django-prometheus, the usual choice for Django
metrics; there is no hand-written floor here.

There is no Django-under-ASGI table: Django's ASGIHandler hands ``response.close`` and
the request signals to a thread it starts per request, about 1 ms here with a spread
larger than that, so a middleware's few µs cannot be told from the noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test.utils import override_settings
from django.urls import path
from prometheus_client import REGISTRY
from prometheus_client.registry import CollectorRegistry

from bench.apps import HELLO
from bench.cases import OTEL, Case, _otel_providers, wsgi_case
from gatewatch import GatewatchWSGI
from gatewatch.types import WSGIApp

BARE_DJANGO = "bare Django, MIDDLEWARE=[]"
DJANGO_PROMETHEUS = "django-prometheus Before+After"
GATEWATCH_MIDDLEWARE = "gatewatch GatewatchMiddleware"
GATEWATCH_MIDDLEWARE_NO_CPU = "gatewatch middleware, CPU_TIME=False"
GATEWATCH_WSGI_OUTER = "GatewatchWSGI + middleware"
DJANGO_WSGI_NAMES = (
    BARE_DJANGO,
    DJANGO_PROMETHEUS,
    GATEWATCH_MIDDLEWARE,
    GATEWATCH_MIDDLEWARE_NO_CPU,
    GATEWATCH_WSGI_OUTER,
    OTEL,
)

GATEWATCH_PATH = "gatewatch.integrations.django.GatewatchMiddleware"
PROMETHEUS_PATHS = (
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
)
DURATION_COUNT = "gatewatch_http_request_duration_seconds_count"
# One from each django-prometheus middleware, so a check sees both of them ran.
PROMETHEUS_BEFORE = "django_http_requests_before_middlewares_total"
PROMETHEUS_AFTER = "django_http_responses_total_by_status_total"


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HELLO, content_type="text/plain")


# The bench's URLconf (settings.ROOT_URLCONF is this module).
urlpatterns = [path("", hello)]


def configure_django() -> None:
    """Minimal settings for this process, once; refuses settings it did not make."""
    if settings.configured:
        if __name__ != settings.ROOT_URLCONF:
            raise RuntimeError("the Django bench configures Django itself; run it in a process of its own")
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="gatewatch-bench-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        DATABASES={},
        # django-prometheus's middlewares need no app of theirs; gatewatch's neither
        # (its app only adds system checks and connects what the middleware connects).
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        USE_TZ=True,
    )
    import django

    django.setup()


def _wsgi_handler(middleware: Sequence[str], gatewatch: dict[str, Any] | None = None) -> WSGIApp:
    with override_settings(MIDDLEWARE=list(middleware), GATEWATCH=gatewatch):
        return WSGIHandler()


# A sample that must go up by one per request: registry, sample name, labels it must carry.
Counted = tuple[CollectorRegistry, str, dict[str, str]]


def _total(registry: CollectorRegistry, sample: str, **labels: str) -> float:
    return sum(
        found.value
        for metric in registry.collect()
        for found in metric.samples
        if found.name == sample and labels.items() <= found.labels.items()
    )


def _counting(case: Case, counters: Sequence[Counted]) -> Case:
    """``case`` whose check also sees each counter go up by exactly one: the contender
    really recorded the request (and the outer + inner pair counted it once)."""

    def check() -> None:
        before = [_total(registry, sample, **labels) for registry, sample, labels in counters]
        case.check()
        after = [_total(registry, sample, **labels) for registry, sample, labels in counters]
        for (_, sample, labels), old, new in zip(counters, before, after, strict=True):
            if new - old != 1:
                raise AssertionError(f"{case.name}: {sample}{labels} went up by {new - old}, not 1")

    return dataclasses.replace(case, check=check)


def _prometheus_counters() -> list[Counted]:
    # django-prometheus registers in the global registry (at its first middleware); fine here.
    return [(REGISTRY, PROMETHEUS_BEFORE, {}), (REGISTRY, PROMETHEUS_AFTER, {"status": "200"})]


def _gatewatch_counter(registry: CollectorRegistry, route: str) -> Counted:
    # The route label is Django's template: the middleware named the view.
    return registry, DURATION_COUNT, {"route": route, "status": "200"}


def django_wsgi_cases() -> list[Case]:
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OtelWSGI

    configure_django()
    alone, no_cpu, outer = CollectorRegistry(), CollectorRegistry(), CollectorRegistry()
    tracer_provider, meter_provider = _otel_providers()
    return [
        wsgi_case(BARE_DJANGO, _wsgi_handler([])),
        _counting(wsgi_case(DJANGO_PROMETHEUS, _wsgi_handler(PROMETHEUS_PATHS)), _prometheus_counters()),
        _counting(
            wsgi_case(GATEWATCH_MIDDLEWARE, _wsgi_handler([GATEWATCH_PATH], {"REGISTRY": alone})),
            [_gatewatch_counter(alone, "/")],
        ),
        _counting(
            wsgi_case(
                GATEWATCH_MIDDLEWARE_NO_CPU,
                _wsgi_handler([GATEWATCH_PATH], {"REGISTRY": no_cpu, "CPU_TIME": False}),
            ),
            [_gatewatch_counter(no_cpu, "/")],
        ),
        # The documented set-up: wsgi.py wraps Django, the middleware names the route.
        _counting(
            wsgi_case(
                GATEWATCH_WSGI_OUTER,
                GatewatchWSGI(_wsgi_handler([GATEWATCH_PATH], {"REGISTRY": outer}), registry=outer),
            ),
            [_gatewatch_counter(outer, "/")],
        ),
        wsgi_case(
            OTEL,
            OtelWSGI(_wsgi_handler([]), tracer_provider=tracer_provider, meter_provider=meter_provider),
        ),
    ]
