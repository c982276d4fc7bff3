"""GatewatchASGI in process: transparency, exact accounting, blocking time, failure isolation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import GatewatchASGI, set_route
from gatewatch._paths import SpecialPaths
from gatewatch.types import Message, Receive, Scope, Send
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.sampling import sample_every_request
from tests.support.scrape import label_values, value
from tests.support.sinks import BrokenSink
from tests.support.websocket_driver import Session, websocket_scope
from tests.support.websocket_driver import run as websocket_run
from tests.support.websocket_driver import text as websocket_text


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    body = message.get("body", b"")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello " + body})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_request_is_recorded_exactly(registry: CollectorRegistry) -> None:
    app = sample_every_request(GatewatchASGI(hello, registry=registry))
    incoming = {"type": "http.request", "body": b"world", "more_body": False}
    exchange = run(serve(app, http_scope("/x", "POST"), Exchange(incoming)))
    assert exchange.body == b"hello world"
    assert exchange.status == 200
    labels = {"interface": "asgi", "method": "POST", "route": "<unmatched>"}
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200", **labels) == 1
    assert value(registry, "gatewatch_http_request_body_bytes_total", **labels) == 5
    assert value(registry, "gatewatch_http_response_body_bytes_total", **labels) == 11
    assert value(registry, "gatewatch_http_time_to_first_byte_seconds_count", **labels) == 1
    assert value(registry, "gatewatch_http_request_cpu_seconds_count", **labels) == 1
    assert value(registry, "gatewatch_http_requests_in_flight", interface="asgi") == 0
    assert value(registry, "gatewatch_http_concurrency_at_arrival_count", interface="asgi") == 1


@pytest.mark.parametrize("scope_type", ["lifespan", "somethingnew"])
def test_other_scopes_pass_through_untouched(registry: CollectorRegistry, scope_type: str) -> None:
    seen: list[tuple[Scope, Receive, Send]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    scope: Scope = {"type": scope_type, "asgi": {"version": "3.0"}}

    async def receive() -> Message:
        return {"type": "x"}

    async def send(message: Message) -> None:
        pass

    run(GatewatchASGI(app, registry=registry)(scope, receive, send))
    assert seen == [(scope, receive, send)]
    assert seen[0][1] is receive and seen[0][2] is send
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 0


def test_blocking_sleep_holds_the_loop(registry: CollectorRegistry) -> None:
    async def blocking(scope: Scope, receive: Receive, send: Send) -> None:
        time.sleep(0.2)
        await hello(scope, receive, send)

    run(serve(sample_every_request(GatewatchASGI(blocking, registry=registry)), http_scope("/block")))
    blocking_sum = value(registry, "gatewatch_http_request_blocking_seconds_sum")
    assert blocking_sum >= 0.2
    # time.sleep is not on CPU: well under the time it held the loop (a CPU clock that counted
    # the sleep would be at least as long), with room for a loaded machine's overhead.
    assert value(registry, "gatewatch_http_request_cpu_seconds_sum") < blocking_sum / 2


def test_awaiting_does_not_hold_the_loop(registry: CollectorRegistry) -> None:
    async def awaiting(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.3)
        await hello(scope, receive, send)

    run(serve(GatewatchASGI(awaiting, registry=registry), http_scope("/await")))
    duration = value(registry, "gatewatch_http_request_duration_seconds_sum")
    assert duration >= 0.3
    # The awaited 0.3 s is not loop-held time: under half the request (counting the await
    # would make it all of it), not a few ms a loaded machine's preemption can exceed.
    assert value(registry, "gatewatch_http_request_blocking_seconds_sum") < duration / 2


def test_duration_ends_with_the_last_body_chunk(registry: CollectorRegistry) -> None:
    async def with_background_work(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.03)
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        await asyncio.sleep(0.3)  # a background task after the response: not the client's wait

    run(serve(GatewatchASGI(with_background_work, registry=registry), http_scope("/bg")))
    duration = value(registry, "gatewatch_http_request_duration_seconds_sum")
    after = value(registry, "gatewatch_http_request_after_response_seconds_sum")
    assert after >= 0.3
    # Compared with the background work's own measured time (counting it would put the duration
    # above it), not with a fixed window a loaded machine can miss.
    assert 0.03 <= duration < after
    ttfb = value(registry, "gatewatch_http_time_to_first_byte_seconds_sum")
    assert 0.03 <= ttfb <= duration


def test_app_exception_propagates_unchanged(registry: CollectorRegistry) -> None:
    error = KeyError("nope")

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise error

    with pytest.raises(KeyError) as caught:
        run(serve(GatewatchASGI(failing, registry=registry), http_scope("/f")))
    assert caught.value is error
    assert value(registry, "gatewatch_http_exceptions_total", exception="KeyError", interface="asgi") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="500") == 1
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


def test_disconnect_mid_stream(registry: CollectorRegistry) -> None:
    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        message = await receive()
        assert message["type"] == "http.disconnect"  # the client went away: stop streaming

    run(serve(GatewatchASGI(streaming, registry=registry), http_scope("/s")))
    assert value(registry, "gatewatch_http_disconnects_total", route="<unmatched>") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 0
    assert value(registry, "gatewatch_http_exceptions_total") == 0


def test_send_failing_after_client_left_is_a_disconnect(registry: CollectorRegistry) -> None:
    error = OSError("client gone")
    exchange = Exchange(send_error=error, fail_after=1)
    with pytest.raises(OSError) as caught:
        run(serve(GatewatchASGI(hello, registry=registry), http_scope("/gone"), exchange))
    assert caught.value is error
    assert value(registry, "gatewatch_http_disconnects_total") == 1
    assert value(registry, "gatewatch_http_exceptions_total") == 0
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 0


def test_cancelled_request_is_a_disconnect(registry: CollectorRegistry) -> None:
    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.ensure_future(serve(GatewatchASGI(forever, registry=registry), http_scope("/c")))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert value(registry, "gatewatch_http_disconnects_total") == 1
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


def test_pathsend_counts_the_file(registry: CollectorRegistry, tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"z" * 1234)

    async def pathsend(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    run(serve(GatewatchASGI(pathsend, registry=registry), http_scope("/file")))
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 1234
    assert value(registry, "gatewatch_http_disconnects_total") == 0


def test_no_response_at_all_is_a_500(registry: CollectorRegistry) -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    run(serve(GatewatchASGI(silent, registry=registry), http_scope("/silent")))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="500") == 1


def test_concurrency_at_arrival_and_in_flight(registry: CollectorRegistry) -> None:
    release = asyncio.Event()
    peak: list[float] = []

    async def waits(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await hello(scope, receive, send)

    app = GatewatchASGI(waits, registry=registry)

    async def main() -> None:
        tasks = [asyncio.ensure_future(serve(app, http_scope("/w"))) for _ in range(5)]
        await asyncio.sleep(0.01)
        peak.append(value(registry, "gatewatch_http_requests_in_flight", interface="asgi"))
        release.set()
        await asyncio.gather(*tasks)

    run(main())
    assert peak == [5]
    assert value(registry, "gatewatch_http_requests_in_flight") == 0
    # Arrivals saw 0, 1, 2, 3 and 4 others in flight.
    assert value(registry, "gatewatch_http_concurrency_at_arrival_sum") == 0 + 1 + 2 + 3 + 4


def test_starlette_route_templates_with_mounts(registry: CollectorRegistry) -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def endpoint(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/users/{user_id}", endpoint)])
    app = Starlette(
        routes=[
            Route("/items/{item_id:int}", endpoint),
            Mount("/api", routes=[Route("/orders/{order_id}", endpoint)]),
            Mount("/v2", app=inner),
        ]
    )
    wrapped = GatewatchASGI(app, registry=registry)

    async def main() -> None:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in ["/items/1", "/items/2", "/api/orders/9", "/v2/users/4", "/api/nothing", "/zzz"]:
                await client.get(path)

    run(main())
    count = "gatewatch_http_request_duration_seconds_count"
    assert value(registry, count, route="/items/{item_id:int}") == 2
    assert value(registry, count, route="/api/orders/{order_id}") == 1
    assert value(registry, count, route="/v2/users/{user_id}") == 1
    assert value(registry, count, route="<unmatched>", status="404") == 2


def test_route_cardinality_is_bounded(registry: CollectorRegistry) -> None:
    async def raw_path_as_route(scope: Scope, receive: Receive, send: Send) -> None:
        set_route(scope["path"])  # the mistake a careless integration makes
        await hello(scope, receive, send)

    app = GatewatchASGI(raw_path_as_route, registry=registry, max_routes=50)

    async def main() -> None:
        for n in range(10_000):
            await serve(app, http_scope(f"/p/{n}"))
        await serve(app, http_scope("/unnamed"))

    run(main())
    routes = label_values(registry, "gatewatch_http_request_duration_seconds_count", "route")
    assert len(routes) <= 50 + 2
    assert "<other>" in routes
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 10_000 + 1
    other = value(registry, "gatewatch_http_request_duration_seconds_count", route="<other>")
    assert other == 10_000 + 1 - 50
    assert len(app.monitor.routes) == 50


def test_metrics_path_is_served_and_not_counted(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(hello, registry=registry, metrics_path="/metrics")
    run(serve(app, http_scope("/a")))
    exchange = run(serve(app, http_scope("/metrics")))
    assert exchange.status == 200
    assert value(exchange.body.decode(), "gatewatch_http_request_duration_seconds_count") == 1
    exchange = run(serve(app, http_scope("/metrics", headers=[(b"accept", b"application/openmetrics-text")])))
    headers = dict(next(m for m in exchange.sent if m["type"] == "http.response.start")["headers"])
    assert headers[b"Content-Type"].startswith(b"application/openmetrics-text")


def test_internal_error_never_reaches_the_app(registry: CollectorRegistry) -> None:
    app = sample_every_request(GatewatchASGI(hello, registry=registry))
    app.monitor.add_sink(BrokenSink())
    exchange = run(serve(app, http_scope("/ok")))
    assert exchange.body == b"hello "
    assert value(registry, "gatewatch_internal_errors_total") == 1
    # The aggregator ran before the broken sink: the request is still counted once.
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 1


def test_many_middlewares_on_one_registry(registry: CollectorRegistry) -> None:
    apps = [GatewatchASGI(hello, registry=registry) for _ in range(20)]
    for app in apps:
        run(serve(app, http_scope("/")))
    assert value(registry, "gatewatch_http_request_duration_seconds_count") == 20
    assert len({id(app.monitor) for app in apps}) == 1


def test_trio_runs_the_same_path(registry: CollectorRegistry) -> None:
    trio = pytest.importorskip("trio")

    async def sleepy(scope: Scope, receive: Receive, send: Send) -> None:
        await trio.sleep(0.3)
        time.sleep(0.02)
        await hello(scope, receive, send)

    exchange = trio.run(serve, GatewatchASGI(sleepy, registry=registry), http_scope("/trio"))
    assert exchange.body == b"hello "
    blocking = value(registry, "gatewatch_http_request_blocking_seconds_sum")
    duration = value(registry, "gatewatch_http_request_duration_seconds_sum")
    assert duration >= 0.32
    # The held 0.02 s counts, the awaited 0.3 s does not (it would make blocking the whole
    # duration); half the duration leaves a loaded machine room, where 15 ms did not.
    assert 0.02 <= blocking < duration / 2


def test_disconnect_queued_during_the_final_send_is_not_a_disconnect(registry: CollectorRegistry) -> None:
    """hypercorn queues http.disconnect inside the last send; the response was delivered."""
    from starlette.responses import StreamingResponse

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def body() -> Any:
            yield b"hello"

        await StreamingResponse(body())(scope, receive, send)

    inbox: asyncio.Queue[Message] = asyncio.Queue()
    inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            inbox.put_nowait({"type": "http.disconnect"})
            await asyncio.sleep(0)

    scope = http_scope("/stream", asgi={"version": "3.0", "spec_version": "2.1"})
    run(GatewatchASGI(app, registry=registry)(scope, receive, send))
    assert value(registry, "gatewatch_http_disconnects_total") == 0
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 1
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 5


def test_cpu_time_off_exports_no_cpu_samples(registry: CollectorRegistry) -> None:
    run(serve(GatewatchASGI(hello, registry=registry, cpu_time=False), http_scope("/")))
    assert value(registry, "gatewatch_http_request_cpu_seconds_count") == 0
    assert value(registry, "gatewatch_http_request_blocking_seconds_count") == 1


# -- issue 16: the app's return value, a client gone behind the server's send, wrong apps ---


@pytest.mark.parametrize("scope_type", ["http", "websocket", "lifespan", "somethingnew"])
def test_what_the_app_returns_is_returned(registry: CollectorRegistry, scope_type: str) -> None:
    """uvicorn closes the connection when the app returns something other than None."""
    returned = object()

    async def app(scope: Scope, receive: Receive, send: Send) -> object:
        if scope["type"] == "http":
            await hello(scope, receive, send)
        return returned

    scope = http_scope("/r") if scope_type == "http" else {"type": scope_type, "path": "/r"}
    exchange = Exchange()
    wrapped = GatewatchASGI(app, registry=registry)
    assert run(wrapped(scope, exchange.receive, exchange.send)) is returned


def test_what_an_own_page_returns_is_returned(registry: CollectorRegistry) -> None:
    wrapped = GatewatchASGI(hello, registry=registry, metrics_path="/metrics")
    page_returned = object()

    async def page(scope: Scope, receive: Receive, send: Send) -> Any:
        return page_returned

    wrapped._paths = SpecialPaths({"/metrics": page})
    exchange = Exchange()
    assert run(wrapped(http_scope("/metrics"), exchange.receive, exchange.send)) is page_returned


def server_send_class(module: str, name: str, flag: str) -> type:
    """A stand-in for the per-request object behind a real server's ``send`` (same module and
    class name, same flag), recording what it was sent."""

    async def send(self: Any, message: Message) -> None:
        self.sent.append(message)
        if self.close_on_final and message["type"] == "http.response.body" and not message.get("more_body"):
            setattr(self, flag, True)  # hypercorn closes its own stream inside the final send

    def init(self: Any) -> None:
        self.sent = []
        self.close_on_final = False
        setattr(self, flag, False)

    return type(name, (), {"__module__": module, "__init__": init, "send": send})


UVICORN_CYCLE = ("uvicorn.protocols.http.httptools_impl", "RequestResponseCycle", "disconnected")
HYPERCORN_STREAM = ("hypercorn.protocol.http_stream", "HTTPStream", "closed")


async def two_chunks(scope: Scope, receive: Receive, send: Send) -> None:
    """Streams without ever calling receive(); the client may leave between the chunks."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"one", "more_body": True})
    leave = scope.get("leave")
    if leave is not None:
        leave()
    await send({"type": "http.response.body", "body": b"two"})


@pytest.mark.parametrize("server", [UVICORN_CYCLE, HYPERCORN_STREAM], ids=["uvicorn", "hypercorn"])
def test_client_gone_behind_the_servers_send_is_a_disconnect(
    registry: CollectorRegistry, server: tuple[str, str, str]
) -> None:
    module, name, flag = server
    connection = server_send_class(module, name, flag)()
    scope = http_scope("/gone", leave=lambda: setattr(connection, flag, True))
    run(GatewatchASGI(two_chunks, registry=registry)(scope, Exchange().receive, connection.send))
    # The app's messages all reached the server, untouched: the server drops them, not gatewatch.
    assert [m.get("body") for m in connection.sent] == [None, b"one", b"two"]
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1
    assert value(registry, "gatewatch_http_disconnects_total") == 1
    assert value(registry, "gatewatch_http_exceptions_total") == 0
    assert value(registry, "gatewatch_http_requests_in_flight") == 0


@pytest.mark.parametrize("server", [UVICORN_CYCLE, HYPERCORN_STREAM], ids=["uvicorn", "hypercorn"])
def test_client_still_there_is_a_200(registry: CollectorRegistry, server: tuple[str, str, str]) -> None:
    module, name, flag = server
    connection = server_send_class(module, name, flag)()
    connection.close_on_final = True
    run(GatewatchASGI(two_chunks, registry=registry)(http_scope("/ok"), Exchange().receive, connection.send))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 1
    assert value(registry, "gatewatch_http_disconnects_total") == 0
    assert value(registry, "gatewatch_http_response_body_bytes_total") == 6


def test_returning_without_a_final_body_after_the_client_left_is_a_disconnect(
    registry: CollectorRegistry,
) -> None:
    module, name, flag = UVICORN_CYCLE
    connection = server_send_class(module, name, flag)()

    async def gives_up(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        connection.disconnected = True

    run(GatewatchASGI(gives_up, registry=registry)(http_scope("/g"), Exchange().receive, connection.send))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="499") == 1


def test_a_flag_on_an_unknown_send_owner_is_ignored(registry: CollectorRegistry) -> None:
    """Only uvicorn's and hypercorn's own classes are read: a look-alike elsewhere means nothing."""
    connection = server_send_class("myproject.middleware", "RequestResponseCycle", "disconnected")()
    connection.disconnected = True
    run(GatewatchASGI(two_chunks, registry=registry)(http_scope("/x"), Exchange().receive, connection.send))
    assert value(registry, "gatewatch_http_request_duration_seconds_count", status="200") == 1


WSGI_HINT = "wrap it with GatewatchWSGI instead"


def flask_app() -> Any:
    from flask import Flask

    return Flask("wrong_wrapper")


def django_wsgi() -> Any:
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    return []


class Asgi2App:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        pass


def asgi2_function(scope: Scope) -> Any:
    return Asgi2App(scope).__call__


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (flask_app, "got a WSGI application (flask.app.Flask) as app: " + WSGI_HINT),
        (
            lambda: flask_app().wsgi_app,
            "got a WSGI application (flask.app.Flask.wsgi_app) as app: " + WSGI_HINT,
        ),
        (django_wsgi, "(django.core.handlers.wsgi.WSGIHandler) as app: " + WSGI_HINT),
        (lambda: wsgi_function, "(tests.asgi.test_asgi.wsgi_function) as app: " + WSGI_HINT),
        (lambda: None, "got None as app"),
        (lambda: 42, "got a builtins.int as app, which is not callable"),
        (lambda: "main:app", "not callable: pass the application object, not its import string"),
        (lambda: Asgi2App, "ASGI 2 application (tests.asgi.test_asgi.Asgi2App, called with the scope alone)"),
        (lambda: asgi2_function, "asgiref.compatibility.guarantee_single_callable(app)"),
    ],
    ids=[
        "flask",
        "flask-wsgi_app",
        "django-wsgi",
        "wsgi-function",
        "none",
        "int",
        "str",
        "asgi2-class",
        "asgi2-function",
    ],
)
def test_wrapping_the_wrong_object_fails_at_construction(
    registry: CollectorRegistry, make: Any, expected: str
) -> None:
    with pytest.raises(TypeError) as caught:
        GatewatchASGI(make(), registry=registry)
    message = str(caught.value)
    assert message.startswith("GatewatchASGI wraps an ASGI application (async def app(scope, receive, send))")
    assert expected in message


def test_an_async_callable_that_cannot_take_scope_receive_send_fails(registry: CollectorRegistry) -> None:
    async def two(scope: Scope, receive: Receive) -> None:
        pass

    with pytest.raises(TypeError, match=r"\(scope, receive\) as app, which cannot be called with"):
        GatewatchASGI(two, registry=registry)  # type: ignore[arg-type]


def real_asgi_apps() -> list[Any]:
    """ASGI 3 apps of every shape gatewatch must keep accepting."""
    import functools

    from channels.routing import ProtocolTypeRouter
    from django.core.asgi import get_asgi_application
    from starlette.applications import Starlette

    class AsyncCall:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            pass

    class SyncCallReturningAwaitable:
        def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
            return hello(scope, receive, send)

    class Awaitable3:
        """uvicorn's ASGI 3 class form: instantiated per request with all three, then awaited."""

        def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
            self.call = hello(scope, receive, send)

        def __await__(self) -> Any:
            return self.call.__await__()

    async def with_prefix(prefix: str, scope: Scope, receive: Receive, send: Send) -> None:
        pass

    def one_arg_handler(request: Any) -> None:
        pass

    @functools.wraps(one_arg_handler)  # __wrapped__ claims (request): the real signature counts
    async def decorated(scope: Scope, receive: Receive, send: Send) -> None:
        pass

    async def anything(*args: Any, **kwargs: Any) -> None:
        pass

    django_asgi = get_asgi_application()
    return [
        hello,
        AsyncCall(),
        SyncCallReturningAwaitable(),
        Awaitable3,
        functools.partial(with_prefix, "/p"),
        decorated,
        anything,
        Starlette(),
        django_asgi,
        ProtocolTypeRouter({"http": django_asgi}),
        print,  # no readable signature, so nothing is certain
    ]


def test_real_asgi_apps_are_accepted(registry: CollectorRegistry) -> None:
    for app in real_asgi_apps():
        GatewatchASGI(app, registry=registry)


def test_starlette_websocket_and_hidden_mounts_are_named_by_templates(registry: CollectorRegistry) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount, WebSocketRoute
    from starlette.websockets import WebSocket

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    hidden = Starlette(routes=[WebSocketRoute("/ws/{room}", echo)])

    async def opaque(scope: Scope, receive: Receive, send: Send) -> None:
        # A mounted app that keeps its routes out of sight (no routes, no app attribute).
        await hidden(scope, receive, send)

    app = Starlette(
        routes=[
            Mount("/t/{tenant}", routes=[WebSocketRoute("/ws", echo)]),
            Mount("/o/{tenant}", app=opaque),
        ]
    )
    wrapped = GatewatchASGI(app, registry=registry)
    for path in ("/t/customer-1/ws", "/t/customer-2/ws", "/o/customer-3/ws/rawroom"):
        session = websocket_run(wrapped, Session(websocket_text("hi")), websocket_scope(path))
        assert session.sent_types() == ["websocket.accept", "websocket.send", "websocket.close"]
    sessions = "gatewatch_websocket_sessions_total"
    assert value(registry, sessions, route="/t/{tenant}/ws", outcome="accepted") == 2
    # The mount's template is out of sight: the route's own template, marked, never the path.
    assert value(registry, sessions, route="…/ws/{room}", outcome="accepted") == 1
    text = generate_latest(registry).decode()
    assert "customer-" not in text and "rawroom" not in text
