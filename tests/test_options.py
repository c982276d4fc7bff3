"""Bad configuration fails at construction with the option's name."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor
from gatewatch.options import Options
from tests.support.scrape import value


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    pass


def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    return []


@pytest.mark.parametrize("middleware", [GatewatchASGI, GatewatchWSGI])
@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"max_routes": 0}, ValueError, "max_routes"),
        ({"max_routes": -5}, ValueError, "max_routes"),
        ({"max_routes": "10"}, TypeError, "max_routes"),
        ({"max_routes": True}, TypeError, "max_routes"),
        ({"metrics_path": "metrics"}, ValueError, "metrics_path"),
        ({"metrics_path": 5}, TypeError, "metrics_path"),
        ({"cpu_time": "yes"}, TypeError, "cpu_time"),
        ({"registry": "default"}, TypeError, "registry"),
        ({"monitor": object()}, TypeError, "monitor"),
        ({"max_route": 10}, TypeError, "max_route"),
    ],
)
def test_bad_option_names_itself(
    middleware: Any, options: dict[str, Any], error: type[Exception], name: str
) -> None:
    app = asgi_app if middleware is GatewatchASGI else wsgi_app
    with pytest.raises(error, match=name):
        middleware(app, registry=CollectorRegistry(), **options) if "registry" not in options else middleware(
            app, **options
        )


def test_conflicting_max_routes_on_one_registry(registry: CollectorRegistry) -> None:
    GatewatchASGI(asgi_app, registry=registry, max_routes=10)
    GatewatchWSGI(wsgi_app, registry=registry, max_routes=10)
    with pytest.raises(ValueError, match="max_routes=20"):
        GatewatchASGI(asgi_app, registry=registry, max_routes=20)


def test_shared_monitor(registry: CollectorRegistry) -> None:
    monitor = Monitor(max_routes=3)
    assert GatewatchASGI(asgi_app, monitor=monitor).monitor is monitor
    assert GatewatchWSGI(wsgi_app, monitor=monitor).monitor is monitor


def test_monitor_validates() -> None:
    with pytest.raises(ValueError, match="max_routes"):
        Monitor(max_routes=0)


# -- one options object, in layers -----------------------------------------------------------


def test_each_option_left_out_takes_the_default_written_once() -> None:
    wrapped = GatewatchWSGI(wsgi_app, registry=CollectorRegistry())
    assert wrapped.options == Options(registry=wrapped.options.registry)
    assert wrapped.options.queue_header("wsgi") == "X-Request-Start"
    assert GatewatchASGI(asgi_app, registry=CollectorRegistry()).options.queue_header("asgi") is None


def test_environment_sets_what_the_code_leaves_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWATCH_LIVE_TOKEN", "s3cret")
    monkeypatch.setenv("GATEWATCH_MAX_ROUTES", "42")
    monkeypatch.setenv("GATEWATCH_CPU_TIME", "false")
    monkeypatch.setenv("GATEWATCH_BLOCK_THRESHOLD", "off")
    monkeypatch.setenv("GATEWATCH_EXCLUDE_PATHS", "/health, /static/*")
    options = GatewatchASGI(asgi_app, registry=CollectorRegistry()).options
    assert (options.live_token, options.max_routes, options.cpu_time, options.block_threshold) == (
        "s3cret",
        42,
        False,
        None,
    )
    assert options.exclude_paths == ("/health", "/static/*")
    # The code wins over the environment.
    assert GatewatchASGI(asgi_app, registry=CollectorRegistry(), max_routes=7).options.max_routes == 7


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GATEWATCH_MAX_ROUTES", "many", "GATEWATCH_MAX_ROUTES='many': must be a whole number"),
        ("GATEWATCH_MAX_ROUTES", "0", "max_routes must be at least 1"),
        ("GATEWATCH_CPU_TIME", "maybe", "GATEWATCH_CPU_TIME='maybe': must be true or false"),
        ("GATEWATCH_LOOP_LAG_INTERVAL", "fast", "GATEWATCH_LOOP_LAG_INTERVAL='fast'"),
        ("GATEWATCH_LIVE_TOKEN", "two words", "live_token must be a non-empty"),
    ],
)
def test_a_bad_variable_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        GatewatchASGI(asgi_app, registry=CollectorRegistry())


def test_options_validate_every_field() -> None:
    with pytest.raises(ValueError, match="exclude_paths entries must start with '/'"):
        Options(exclude_paths=("health",))
    with pytest.raises(TypeError, match="block_threshold must be a number of seconds or None"):
        Options(block_threshold=float("nan"))
    with pytest.raises(ValueError, match="queue_time_header must be an HTTP header name"):
        Options(queue_time_header="X Request")
    with pytest.raises(ValueError, match="live_token has no effect without live_path"):
        Options(live_token="t0ken", live_path=None)


def test_excluded_paths_pass_through_unrecorded(registry: CollectorRegistry) -> None:
    from tests.support.wsgi_driver import call, make_environ

    def ok(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    wrapped = GatewatchWSGI(ok, registry=registry, exclude_paths=["/health", "/static/*"])
    for path in ("/health", "/static/app.js", "/static/", "/healthz", "/app"):
        assert call(wrapped, make_environ(path)).body == b"ok"
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 2  # /healthz, /app
    assert value(registry, "gatewatch_http_request_duration_seconds_count", route="<unmatched>") == 2


def test_excluded_paths_under_asgi(registry: CollectorRegistry) -> None:
    import asyncio

    from tests.support.asgi_driver import http_scope, serve

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = GatewatchASGI(ok, registry=registry, exclude_paths=("/health",))

    async def main() -> None:
        for path in ("/health", "/health", "/x"):
            assert (await serve(wrapped, http_scope(path))).body == b"ok"

    asyncio.run(main())
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 1
