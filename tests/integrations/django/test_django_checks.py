"""Django system checks and start-up validation of ``settings.GATEWATCH`` (pytest-django)."""

from __future__ import annotations

import logging
import sys

import pytest
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry
from pytest_django.fixtures import Settings

from gatewatch.integrations.django import GatewatchMiddleware, checks
from gatewatch.integrations.django.options import GatewatchSettingsError
from gatewatch.runtime import Runtime

FIRST = "gatewatch.integrations.django.GatewatchMiddleware"
COMMON = "django.middleware.common.CommonMiddleware"
LEGACY = "examples.django_project.legacy_middleware.LegacyHeaderMiddleware"
ASGI_SERVERS = ("uvicorn", "hypercorn", "daphne", "granian")


def ids(messages: list[CheckMessage]) -> list[str]:
    return [message.id or "" for message in messages]


def get_response(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@pytest.fixture
def wsgi_only(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """A project that does not serve ASGI: no ASGI_APPLICATION, no ASGI server loaded."""
    settings.ASGI_APPLICATION = None
    for name in ASGI_SERVERS:
        monkeypatch.delitem(sys.modules, name, raising=False)


@pytest.mark.parametrize(
    ("value", "expected_id", "named"),
    [
        ([("MAX_ROUTES", 5)], "gatewatch.E001", "GATEWATCH must be a dict"),
        ({"MAX_ROUTE": 5}, "gatewatch.E002", "GATEWATCH['MAX_ROUTE']"),
        ({"MAX_ROUTES": 0}, "gatewatch.E003", "GATEWATCH['MAX_ROUTES']"),
        ({"MAX_ROUTES": True}, "gatewatch.E003", "GATEWATCH['MAX_ROUTES']"),
        ({"MAX_ROUTES": "500"}, "gatewatch.E003", "GATEWATCH['MAX_ROUTES']"),
        ({"CPU_TIME": "yes"}, "gatewatch.E004", "GATEWATCH['CPU_TIME']"),
        ({"TRACK_OFFLOAD": 1}, "gatewatch.E004", "GATEWATCH['TRACK_OFFLOAD']"),
        ({"REGISTRY": "prometheus_client.REGISTRY"}, "gatewatch.E005", "GATEWATCH['REGISTRY']"),
        ({"LIVE_TOKEN": ""}, "gatewatch.E006", "GATEWATCH['LIVE_TOKEN']"),
    ],
)
def test_bad_settings_fail_the_check_and_the_start_up_naming_the_key(
    settings: Settings, value: object, expected_id: str, named: str
) -> None:
    settings.GATEWATCH = value
    found = checks.check_settings()
    assert ids(found) == [expected_id]
    assert named in found[0].msg or named == found[0].obj
    with pytest.raises(SystemCheckError, match=expected_id):
        call_command("check", tags=["gatewatch"])
    with pytest.raises(GatewatchSettingsError, match=expected_id) as raised:
        GatewatchMiddleware(get_response)
    assert named.split("[")[-1].strip("]") in str(raised.value) or named in str(raised.value)
    # Django's own error type and the ValueError every bad gatewatch option raises.
    assert isinstance(raised.value, ImproperlyConfigured)
    assert isinstance(raised.value, ValueError)


def test_an_unknown_key_gets_the_close_match_as_hint(settings: Settings) -> None:
    settings.GATEWATCH = {"CPU_TIMES": False}
    (error,) = checks.check_settings()
    assert error.hint == "Did you mean 'CPU_TIME'?"
    assert error.obj == "GATEWATCH['CPU_TIMES']"


def test_every_problem_is_reported_not_just_the_first(settings: Settings) -> None:
    settings.GATEWATCH = {"MAX_ROUTES": -1, "CPU_TIME": None, "NOPE": 1}
    assert sorted(ids(checks.check_settings())) == ["gatewatch.E002", "gatewatch.E003", "gatewatch.E004"]


def test_good_settings_pass(settings: Settings) -> None:
    settings.GATEWATCH = {
        "MAX_ROUTES": 20,
        "CPU_TIME": False,
        "TRACK_OFFLOAD": False,
        "REGISTRY": CollectorRegistry(),
        "LIVE_TOKEN": "s3cret",
    }
    assert checks.check_settings() == []
    settings.GATEWATCH = None
    assert checks.check_settings() == []
    del settings.GATEWATCH
    assert checks.check_settings() == []


def test_w001_when_the_middleware_is_not_first(settings: Settings) -> None:
    settings.MIDDLEWARE = [COMMON, FIRST]
    (warning,) = checks.check_middleware_order()
    assert warning.id == "gatewatch.W001"
    assert COMMON in warning.msg
    settings.MIDDLEWARE = [FIRST, COMMON]
    assert checks.check_middleware_order() == []
    # Not listed at all (only the outer middleware is used): nothing to say.
    settings.MIDDLEWARE = [COMMON]
    assert checks.check_middleware_order() == []


def test_w002_names_sync_only_middleware_under_asgi(settings: Settings) -> None:
    settings.ASGI_APPLICATION = "examples.django_project.asgi.application"
    settings.MIDDLEWARE = [FIRST, COMMON, LEGACY]
    (warning,) = checks.check_sync_middleware()
    assert warning.id == "gatewatch.W002"
    assert LEGACY in warning.msg
    # Django's CommonMiddleware is async-capable (MiddlewareMixin), so it is not named.
    assert COMMON not in warning.msg
    with pytest.raises(SystemCheckError, match=r"gatewatch\.W002"):
        call_command("check", tags=["gatewatch"], fail_level="WARNING")


@pytest.mark.usefixtures("wsgi_only")
def test_w002_stays_quiet_for_a_wsgi_project(settings: Settings) -> None:
    settings.MIDDLEWARE = [FIRST, COMMON, LEGACY]
    assert checks.check_sync_middleware() == []
    assert checks.check_sync_hooks() == []


def test_i001_names_sync_hooks_of_async_capable_middleware(settings: Settings) -> None:
    settings.ASGI_APPLICATION = "examples.django_project.asgi.application"
    settings.MIDDLEWARE = [FIRST, COMMON, LEGACY]
    (info,) = checks.check_sync_hooks()
    assert info.id == "gatewatch.I001"
    assert f"{COMMON} (process_request, process_response)" in info.msg
    # gatewatch's own middleware and a plain sync-only class are not MiddlewareMixin hooks.
    assert FIRST not in info.msg
    assert LEGACY not in info.msg


def test_start_up_logs_the_warnings_once(
    settings: Settings, caplog: pytest.LogCaptureFixture, runtime: Runtime
) -> None:
    settings.ASGI_APPLICATION = "examples.django_project.asgi.application"
    settings.MIDDLEWARE = [COMMON, FIRST, LEGACY]
    with caplog.at_level(logging.WARNING, logger="gatewatch"):
        GatewatchMiddleware(get_response, runtime=runtime)
        GatewatchMiddleware(get_response, runtime=runtime)
    logged = [record.getMessage() for record in caplog.records]
    assert [line.split(":")[0] for line in logged] == ["gatewatch.W001", "gatewatch.W002"]


def test_silenced_warnings_stay_silent_at_start_up(
    settings: Settings, caplog: pytest.LogCaptureFixture, runtime: Runtime
) -> None:
    settings.MIDDLEWARE = [COMMON, FIRST]
    settings.SILENCED_SYSTEM_CHECKS = ["gatewatch.W001"]
    with caplog.at_level(logging.WARNING, logger="gatewatch"):
        GatewatchMiddleware(get_response, runtime=runtime)
    assert caplog.records == []
