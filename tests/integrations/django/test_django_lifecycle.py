"""Every request the Django middleware starts ends exactly once, whatever response goes out,
and the project's settings conflict with the outer middleware's at start-up, never per request."""

from __future__ import annotations

import asyncio

import pytest
from django.core.wsgi import get_wsgi_application
from django.test import AsyncClient, Client
from prometheus_client import CollectorRegistry, generate_latest
from pytest_django.fixtures import Settings

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.integrations.django.checks import check_settings
from gatewatch.integrations.django.options import GatewatchSettingsError, configured_options
from tests.support.django_support import django_registry
from tests.support.traffic import duration_counts, in_flight_values

__all__ = ["django_registry"]

NOT_FIRST = ["django.middleware.common.CommonMiddleware", "gatewatch.integrations.django.GatewatchMiddleware"]


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


@pytest.mark.usefixtures("django_registry")
def test_a_response_replaced_by_an_earlier_middleware_ends_the_request(
    settings: Settings, registry: CollectorRegistry
) -> None:
    """CommonMiddleware, listed first, turns the 404 of /sync into a 301 to /sync/: the 404
    the middleware saw is never closed; the 301 that went out ends the request."""
    settings.MIDDLEWARE = NOT_FIRST
    client = Client()
    for _ in range(5):
        assert client.get("/sync").status_code == 301
    assert client.get("/sync/").status_code == 200
    text = scrape(registry)
    assert duration_counts(text, "wsgi") == {
        ("GET", "<unmatched>", "301"): 5,
        ("GET", "/sync/", "200"): 1,
    }
    assert in_flight_values(text) == [0.0]


@pytest.mark.usefixtures("django_registry")
def test_a_replaced_response_ends_the_request_under_asgi_too(
    settings: Settings, registry: CollectorRegistry
) -> None:
    settings.MIDDLEWARE = NOT_FIRST

    async def drive() -> list[int]:
        client = AsyncClient()
        return [(await client.get(path)).status_code for path in ("/async", "/async", "/async/")]

    assert asyncio.run(drive()) == [301, 301, 200]
    text = scrape(registry)
    assert duration_counts(text, "asgi") == {
        ("GET", "<unmatched>", "301"): 2,
        ("GET", "/async/", "200"): 1,
    }
    assert in_flight_values(text) == [0.0]


def test_outer_middleware_takes_the_projects_settings(settings: Settings) -> None:
    registry = CollectorRegistry()
    settings.GATEWATCH = {"MAX_ROUTES": 20, "REGISTRY": registry}
    app = GatewatchWSGI(get_wsgi_application())
    assert app.monitor.max_routes == 20
    # The lone middleware (Django's test client in the same process) shares its monitor: no 500.
    assert Client().get("/sync/").status_code == 200
    assert duration_counts(scrape(registry), "wsgi") == {("GET", "/sync/", "200"): 1}


def test_a_conflicting_max_routes_fails_at_start_up(settings: Settings) -> None:
    settings.GATEWATCH = {"MAX_ROUTES": 20, "REGISTRY": CollectorRegistry()}
    conflict = r"max_routes=30 conflicts with settings.GATEWATCH\['MAX_ROUTES'\] = 20"
    with pytest.raises(ValueError, match=conflict):
        GatewatchWSGI(get_wsgi_application(), max_routes=30)


def test_a_conflicting_registry_fails_at_start_up(settings: Settings) -> None:
    settings.GATEWATCH = {"REGISTRY": CollectorRegistry()}
    from django.core.asgi import get_asgi_application

    with pytest.raises(ValueError, match=r"registry=.* conflicts with settings.GATEWATCH\['REGISTRY'\]"):
        GatewatchASGI(get_asgi_application(), registry=CollectorRegistry())


@pytest.mark.parametrize("key", ["LOOP_LAG_INTERVAL", "BLOCK_THRESHOLD"])
def test_a_bad_loop_setting_is_named_as_written(settings: Settings, key: str) -> None:
    settings.GATEWATCH = {key: 600}
    [error] = check_settings()
    assert error.id == "gatewatch.E007"
    assert f"GATEWATCH['{key}'] must be between 0.001 and 60 seconds, got 600" in error.msg
    other = "block_threshold" if key == "LOOP_LAG_INTERVAL" else "loop_lag_interval"
    assert other not in error.msg
    with pytest.raises(GatewatchSettingsError, match=key):
        configured_options()


SETTINGS_CASES = [
    ("MAX_ROUTES", 20, "max_routes", 20),
    ("CPU_TIME", False, "cpu_time", False),
    ("TRACK_OFFLOAD", False, "track_offload", False),
    ("LIVE_TOKEN", "s3cret", "live_token", "s3cret"),
    ("BLOCK_THRESHOLD", 0.2, "block_threshold", 0.2),
    ("EXCLUDE_PATHS", ["/health/"], "exclude_paths", ("/health/",)),
]


@pytest.mark.parametrize("entry_point", ["wsgi", "asgi"])
@pytest.mark.parametrize(("key", "setting", "option", "expected"), SETTINGS_CASES)
def test_each_setting_takes_effect_under_both_entry_points(
    settings: Settings, entry_point: str, key: str, setting: object, option: str, expected: object
) -> None:
    registry = CollectorRegistry()
    settings.GATEWATCH = {"REGISTRY": registry, key: setting}
    if entry_point == "wsgi":
        wrapped: GatewatchWSGI | GatewatchASGI = GatewatchWSGI(get_wsgi_application())
    else:
        from django.core.asgi import get_asgi_application

        wrapped = GatewatchASGI(get_asgi_application())
    assert getattr(wrapped.options, option) == expected
    assert wrapped.options.registry is registry


def test_the_live_token_setting_guards_the_outer_live_view(settings: Settings) -> None:
    from tests.support.wsgi_driver import call, make_environ

    settings.GATEWATCH = {"REGISTRY": CollectorRegistry(), "LIVE_TOKEN": "s3cret"}
    wrapped = GatewatchWSGI(get_wsgi_application())
    local = make_environ("/_gatewatch/live.json", REMOTE_ADDR="127.0.0.1", HTTP_HOST="127.0.0.1")
    assert call(wrapped, local).status.startswith("401")
    local["HTTP_AUTHORIZATION"] = "Bearer s3cret"
    assert call(wrapped, local).status.startswith("200")


def test_djangos_own_gatewatch_views_are_not_the_projects_routes(settings: Settings) -> None:
    from tests.support.wsgi_driver import call, make_environ

    registry = CollectorRegistry()
    settings.GATEWATCH = {"REGISTRY": registry}
    # The outer middleware serves no metrics page itself: urls.py's /metrics answers.
    wrapped = GatewatchWSGI(get_wsgi_application(), live_path=None)
    for path in ("/metrics", "/metrics", "/sync/"):
        response = call(wrapped, make_environ(path, HTTP_HOST="localhost"))
        assert response.status.startswith("200")
    assert duration_counts(scrape(registry), "wsgi") == {("GET", "/sync/", "200"): 1}


def test_check_reports_a_keyword_that_contradicts_the_settings(settings: Settings) -> None:
    from gatewatch.integrations.django.checks import check_entry_points

    # A registry of its own: importing the wsgi module builds the project's handler, which must
    # not leave a max_routes=20 export on the global registry for later tests to conflict with.
    settings.GATEWATCH = {"MAX_ROUTES": 20, "REGISTRY": CollectorRegistry()}
    settings.WSGI_APPLICATION = "tests.support.django_conflicting_wsgi.application"
    [error] = check_entry_points()
    assert error.id == "gatewatch.E008"
    assert "max_routes=30 conflicts with settings.GATEWATCH['MAX_ROUTES'] = 20" in error.msg
