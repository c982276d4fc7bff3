"""Bad configuration fails at construction with the option's name."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import gatewatch
from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor
from gatewatch.options import ENVIRONMENT, Options, from_environment, layered
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


# -- each option declared once; everything else derived from it, and checked -----------------

# A good value, as a user passes it, and what Options holds for it (not the default, so a
# value that never arrives fails). Every option must have one: a new option fails here until
# it does.
GOOD: dict[str, tuple[Any, Any]] = {
    "registry": (REGISTRY_SAMPLE := CollectorRegistry(), REGISTRY_SAMPLE),
    "max_routes": (42, 42),
    "metrics_path": ("/m", "/m"),
    "cpu_time": (False, False),
    "live_path": ("/live", "/live"),
    "live_token": ("s3cret", "s3cret"),
    # Port 0: the test process' side server takes whatever port is free.
    "side_address": ("127.0.0.1:0", "127.0.0.1:0"),
    "loop_lag_interval": (1, 1),
    "block_threshold": (None, None),
    "track_offload": (False, False),
    "queue_time_header": ("X-Queue-Start", "X-Queue-Start"),
    "worker_threads": (8, 8),
    "exclude_paths": (["/health", "/static/*"], ("/health", "/static/*")),
    "histograms": (["duration"], frozenset({"duration"})),
    "buckets": ({"duration": [0.1, 1]}, (("duration", (0.1, 1.0)),)),
    "series": ("full", "full"),
    "otel": (True, True),
    "tracer_provider": (None, None),
    "meter_provider": (None, None),
    "otel_url_query": (True, True),
    "otel_url_path": (True, True),
}
# A bad value of each option (the message must name the option, and the value unless secret).
BAD: dict[str, Any] = {
    "registry": "default",
    "max_routes": 0,
    "metrics_path": "metrics",
    "cpu_time": "yes",
    "live_path": 5,
    "live_token": "two words",
    "side_address": "localhost:9464",
    "loop_lag_interval": 600,
    "block_threshold": float("inf"),
    "track_offload": 1,
    "queue_time_header": "X Request",
    "worker_threads": 0,
    "exclude_paths": ["health"],
    "histograms": ["durations"],
    "buckets": {"duration": [1, 0.5]},
    "series": "all",
    "otel": "on",
    "tracer_provider": "global",
    "meter_provider": object(),
    "otel_url_query": None,
    "otel_url_path": "no",
}
# What the environment spells for each option it may set, and what it sets.
ENV_GOOD: dict[str, tuple[str, Any]] = {
    "max_routes": ("42", 42),
    "metrics_path": ("off", None),
    "cpu_time": ("false", False),
    "live_path": ("/live", "/live"),
    "live_token": ("s3cret", "s3cret"),
    "side_address": ("9464", "9464"),
    "loop_lag_interval": ("0.5", 0.5),
    "block_threshold": ("none", None),
    "track_offload": ("no", False),
    "queue_time_header": ("X-Queue-Start", "X-Queue-Start"),
    "worker_threads": ("8", 8),
    "exclude_paths": ("/health, /static/*", ("/health", "/static/*")),
    "histograms": ("duration,ttfb", frozenset({"duration", "ttfb"})),
    "series": ("full", "full"),
    "otel": ("true", True),
    "otel_url_query": ("1", True),
    "otel_url_path": ("yes", True),
}
ENV_BAD: dict[str, str] = {
    "max_routes": "many",
    "metrics_path": "metrics",
    "cpu_time": "maybe",
    "live_path": "live",
    "live_token": "two words",
    "side_address": "[::1]",
    "loop_lag_interval": "fast",
    "block_threshold": "100",
    "track_offload": "2",
    "queue_time_header": "X Request",
    "worker_threads": "1.5",
    "exclude_paths": "health",
    "histograms": "durations",
    "series": "lean,full",
    "otel": "sometimes",
    "otel_url_query": "y",
    "otel_url_path": "n",
}
CODE_ONLY = {"registry", "buckets", "tracer_provider", "meter_provider"}


def test_every_field_is_declared_with_its_metadata() -> None:
    from gatewatch.options import declared_options

    declared = declared_options()
    assert [each.name for each in declared] == [field.name for field in dataclasses.fields(Options)]
    for each in declared:
        assert each.spec.doc and "\n" not in each.spec.doc, each.name
        assert each.django_key == each.name.upper()
        expected = None if each.name in CODE_ONLY else f"GATEWATCH_{each.name.upper()}"
        assert each.environment_variable == expected, each.name
    # Every sample table covers exactly the options: a new option is added to them here too.
    names = {each.name for each in declared}
    assert set(GOOD) == set(BAD) == names
    assert set(ENV_GOOD) == set(ENV_BAD) == names - CODE_ONLY == set(ENVIRONMENT.values())


@pytest.mark.parametrize("name", sorted(ENV_GOOD))
def test_the_environment_sets_each_option(name: str) -> None:
    text, expected = ENV_GOOD[name]
    variable = f"GATEWATCH_{name.upper()}"
    assert from_environment({variable: f" {text} "}) == {name: expected}
    found = layered({}, environ={variable: text, "GATEWATCH_OTEL": "true"})
    assert getattr(found, name) == expected


@pytest.mark.parametrize("name", sorted(ENV_BAD))
def test_a_bad_variable_names_itself_and_its_text(name: str) -> None:
    variable = f"GATEWATCH_{name.upper()}"
    with pytest.raises(ValueError) as caught:
        from_environment({variable: ENV_BAD[name]})
    message = str(caught.value)
    shown = "<hidden>" if name == "live_token" else repr(ENV_BAD[name])
    assert message.startswith(f"{variable}={shown}: "), message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(GOOD))
def test_a_bad_value_is_one_value_error_line_naming_the_option(name: str) -> None:
    bad = BAD[name]
    with pytest.raises(ValueError) as caught:
        Options(**{name: bad})
    message = str(caught.value)
    assert message.startswith(name) and "\n" not in message, message
    if name == "live_token":
        assert "two words" not in message  # a token is never repeated into logs
    elif name not in ("meter_provider", "buckets", "histograms", "exclude_paths"):
        assert repr(bad) in message or type(bad).__name__ in message, message


def test_the_django_settings_set_each_option() -> None:
    pytest.importorskip("django")
    from gatewatch.integrations.django.options import _IDS, read_settings

    assert set(_IDS) <= {name.upper() for name in GOOD}  # the checks' ids name real keys

    for name, (given, held) in GOOD.items():
        values, problems = read_settings({name.upper(): given})
        assert (values, problems) == ({name: held}, []), name
        values, problems = read_settings({name.upper(): BAD[name]})
        assert values == {}, name
        [problem] = problems
        assert problem.key == f"GATEWATCH[{name.upper()!r}]"
        assert problem.message.startswith(f"GATEWATCH[{name.upper()!r}]"), problem.message


def test_the_middlewares_take_exactly_the_declared_options() -> None:
    import inspect

    from gatewatch.options import ASGIKeywords, WSGIKeywords

    asgi, wsgi = ASGIKeywords.__optional_keys__, WSGIKeywords.__optional_keys__
    assert asgi | wsgi == {field.name for field in dataclasses.fields(Options)}
    assert asgi ^ wsgi == {"loop_lag_interval", "block_threshold", "track_offload", "worker_threads"}
    # Each keyword's type is its field's, or what the field's convert turns into it; the
    # field's DEFAULT is no value a caller passes.
    fields = typing.get_type_hints(Options)
    from gatewatch.options import Default, declared_options

    for keywords in (ASGIKeywords, WSGIKeywords):
        for name, written in typing.get_type_hints(keywords).items():
            each = next(each for each in declared_options() if each.name == name)
            assert (
                written == fields[name]
                or each.spec.convert is not None
                or fields[name] == (written | Default)
            ), name
    # No option is a parameter of its own: the keywords are the TypedDict's, read without locals().
    # The class's signature is what help() and editors show at run time; a compiled __init__ has
    # none of its own, but mypyc gives the class its text signature (names, kinds, defaults, no
    # annotations). The annotations type checkers read are the shipped source's, so they are read
    # there: the same file on both builds.
    for middleware, typed_dict in ((GatewatchASGI, "ASGIKeywords"), (GatewatchWSGI, "WSGIKeywords")):
        parameters = inspect.signature(middleware).parameters
        assert [(p.name, p.kind) for p in parameters.values()] == [
            ("app", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            ("monitor", inspect.Parameter.KEYWORD_ONLY),
            ("runtime", inspect.Parameter.KEYWORD_ONLY),
            ("given", inspect.Parameter.VAR_KEYWORD),
        ]
        assert parameters["monitor"].default is None and parameters["runtime"].default is None
        source = Path(gatewatch.__file__).parent / middleware.__module__.split(".", 1)[1].replace(".", "/")
        [init] = [
            node
            for cls in ast.parse(source.with_suffix(".py").read_text()).body
            if isinstance(cls, ast.ClassDef) and cls.name == middleware.__name__
            for node in cls.body
            if isinstance(node, ast.FunctionDef) and node.name == "__init__"
        ]
        assert init.args.kwarg is not None and init.args.kwarg.annotation is not None
        assert ast.unparse(init.args.kwarg.annotation) == f"Unpack[{typed_dict}]"


@pytest.mark.parametrize("middleware", [GatewatchASGI, GatewatchWSGI])
def test_every_keyword_reaches_the_options(middleware: Any) -> None:
    from gatewatch.options import KEYWORDS

    interface = "asgi" if middleware is GatewatchASGI else "wsgi"
    # OpenTelemetry's providers are left to tests/export/otel (they need the SDK).
    given = {name: GOOD[name][0] for name in KEYWORDS[interface] if not name.endswith("_provider")}
    given["registry"] = CollectorRegistry()
    options = middleware(asgi_app if interface == "asgi" else wsgi_app, **given).options
    for name in given:
        expected = given["registry"] if name == "registry" else GOOD[name][1]
        assert getattr(options, name) == expected, name
    other = next(iter(KEYWORDS["wsgi" if interface == "asgi" else "asgi"] - KEYWORDS[interface]))
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{other}' \({other} is an option of"):
        middleware(asgi_app if interface == "asgi" else wsgi_app, **{other: GOOD[other][0]})


def test_the_reference_table_has_a_row_per_option() -> None:
    from gatewatch.options_docs import options_table_markdown, reference_rows

    rows = reference_rows()
    assert [row.name for row in rows] == [f"`{field.name}`" for field in dataclasses.fields(Options)]
    table = options_table_markdown()
    assert table.count("\n") == len(rows) + 2
    for line in table.splitlines()[2:]:
        assert line.count(" | ") == 6, line  # no cell's own "|" splits it
    assert "| `max_routes` | `int` | `500` | `GATEWATCH_MAX_ROUTES` | `MAX_ROUTES` | both |" in table
    assert "| `worker_threads` | `int` or `None` | `None` | `GATEWATCH_WORKER_THREADS` |" in table
