"""The Django middleware in process: Django's own test Client / AsyncClient / RequestFactory,
and behind the outer GatewatchASGI / GatewatchWSGI (counted once, annotated by Django)."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import iscoroutinefunction
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, RequestFactory
from prometheus_client import CollectorRegistry, generate_latest
from pytest_django.fixtures import Settings

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.integrations.django import GatewatchMiddleware
from tests.support.asgi_driver import Exchange, http_scope
from tests.support.django_support import HOPS, OFFLOAD_COUNT, ROUTE_OFFLOAD, by_route, django_registry, views
from tests.support.scrape import value
from tests.support.traffic import DURATION_COUNT, duration_counts, in_flight_values
from tests.support.wsgi_driver import call, make_environ

__all__ = ["django_registry"]

BLOCKING_SUM = "gatewatch_http_route_blocking_seconds_total"
EXCEPTIONS = "gatewatch_http_exceptions_total"
RESPONSE_BYTES = "gatewatch_http_response_body_bytes_total"
ITEM = "/items/<int:pk>/"
VIEWS = "examples.django_project.views"


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


@pytest.mark.usefixtures("django_registry")
def test_client_requests_are_counted_per_route_template(registry: CollectorRegistry) -> None:
    client = Client(raise_request_exception=False)
    statuses = [
        client.get(path).status_code
        for path in ("/sync/", "/sync/", "/sync/", "/items/1/", "/items/22/", "/error/", "/nope/")
    ]
    assert statuses == [200, 200, 200, 200, 200, 500, 404]
    text = scrape(registry)
    assert duration_counts(text, "wsgi") == {
        ("GET", "/sync/", "200"): 3,
        ("GET", ITEM, "200"): 2,
        ("GET", "/error/", "500"): 1,
        ("GET", "<unmatched>", "404"): 1,
    }
    assert value(text, EXCEPTIONS, interface="wsgi", route="/error/", exception="RuntimeError") == 1
    assert value(text, RESPONSE_BYTES, route="/sync/") == 3 * len(b"sync\n")
    assert views(text) == {
        "/sync/": (f"{VIEWS}.sync_view", "sync"),
        ITEM: (f"{VIEWS}.item", "sync"),
        "/error/": (f"{VIEWS}.error", "sync"),
    }
    # Under WSGI nothing is handed to a thread: every request observed, all at zero.
    assert value(text, OFFLOAD_COUNT, interface="wsgi") == 7
    assert sum(by_route(text, ROUTE_OFFLOAD, "wsgi").values()) == 0
    assert sum(by_route(text, HOPS, "wsgi").values()) == 0
    assert in_flight_values(text) == [0.0]


@pytest.mark.usefixtures("django_registry")
def test_async_client_shows_thread_hops_and_loop_blocking(registry: CollectorRegistry) -> None:
    async def drive() -> list[int]:
        client = AsyncClient()
        paths = [
            "/async/",
            "/async/",
            "/sync/",
            "/sync/",
            "/health/",
            "/blocking-async/?seconds=0.06",
            "/slow-async/?seconds=0.3",
        ]
        return [(await client.get(path)).status_code for path in paths]

    assert asyncio.run(drive()) == [200] * 7
    text = scrape(registry)
    assert duration_counts(text, "asgi") == {
        ("GET", "/async/", "200"): 2,
        ("GET", "/sync/", "200"): 2,
        ("GET", "/health/", "200"): 1,
        ("GET", "/blocking-async/", "200"): 1,
        ("GET", "/slow-async/", "200"): 1,
    }
    hops = by_route(text, HOPS, "asgi")
    # A sync view is one more hand-off per request than an async one; the rest is Django's
    # own (sync signal receivers, CommonMiddleware's sync hooks, closing the response).
    assert hops["/sync/"] == hops["/async/"] + 2
    assert hops["/health/"] == hops["/async/"] / 2
    offload = by_route(text, ROUTE_OFFLOAD, "asgi")
    assert offload["/sync/"] > 0
    blocking = by_route(text, BLOCKING_SUM, "asgi")
    # time.sleep in an async view holds the loop; asyncio.sleep does not.
    assert blocking["/blocking-async/"] >= 0.059
    # Half the awaited 0.3 s: counting the await would be all of it, while a loaded machine's
    # preemption of the loop's own work stays far below.
    assert blocking["/slow-async/"] < 0.15
    assert views(text)["/health/"] == (f"{VIEWS}.HealthView", "async")


@pytest.mark.usefixtures("django_registry")
def test_outer_asgi_middleware_counts_once_and_django_names_the_route(
    registry: CollectorRegistry,
) -> None:
    app = GatewatchASGI(get_asgi_application(), registry=registry)

    async def drive(path: str, query: bytes = b"") -> int:
        exchange = Exchange()
        never = asyncio.Event()

        async def wait_forever() -> dict[str, str]:
            await never.wait()
            return {"type": "http.disconnect"}

        # The client stays connected after the response, as a real one does.
        exchange.wait_forever = wait_forever
        headers = [(b"host", b"127.0.0.1")]
        await app(http_scope(path, query_string=query, headers=headers), exchange.receive, exchange.send)
        return exchange.status

    async def traffic() -> list[int]:
        return [
            await drive("/sync/"),
            await drive("/async/"),
            await drive("/items/5/"),
            await drive("/error/"),
            await drive("/stream/", b"chunks=3"),
            await drive("/blocking-async/", b"seconds=0.05"),
        ]

    assert asyncio.run(traffic()) == [200, 200, 200, 500, 200, 200]
    text = scrape(registry)
    assert duration_counts(text, "asgi") == {
        ("GET", "/sync/", "200"): 1,
        ("GET", "/async/", "200"): 1,
        ("GET", ITEM, "200"): 1,
        ("GET", "/error/", "500"): 1,
        ("GET", "/stream/", "200"): 1,
        ("GET", "/blocking-async/", "200"): 1,
    }
    # Django serves the request in a task of its own; the Django middleware times its steps
    # onto the outer record.
    assert by_route(text, BLOCKING_SUM, "asgi")["/blocking-async/"] >= 0.049
    assert value(text, EXCEPTIONS, route="/error/", exception="RuntimeError") == 1
    # The outer middleware counts the streamed bytes Django sent.
    assert value(text, RESPONSE_BYTES, route="/stream/") == len(b"chunk 0\nchunk 1\nchunk 2\n")
    assert value(text, OFFLOAD_COUNT) == 6
    assert by_route(text, ROUTE_OFFLOAD, "asgi")["/sync/"] > 0


@pytest.mark.usefixtures("django_registry")
def test_outer_wsgi_middleware_counts_once_with_zero_offload(registry: CollectorRegistry) -> None:
    app = GatewatchWSGI(get_wsgi_application(), registry=registry)
    responses = [
        call(app, make_environ(path))
        for path in ("/sync/", "/async/", "/items/9/", "/error/", "/stream/", "/missing/")
    ]
    assert [r.status[:3] for r in responses] == ["200", "200", "200", "500", "200", "404"]
    text = scrape(registry)
    assert duration_counts(text, "wsgi") == {
        ("GET", "/sync/", "200"): 1,
        ("GET", "/async/", "200"): 1,
        ("GET", ITEM, "200"): 1,
        ("GET", "/error/", "500"): 1,
        ("GET", "/stream/", "200"): 1,
        ("GET", "<unmatched>", "404"): 1,
    }
    assert value(text, OFFLOAD_COUNT) == 6
    assert value(text, ROUTE_OFFLOAD) == 0
    assert value(text, EXCEPTIONS, route="/error/", exception="RuntimeError") == 1
    assert value(text, RESPONSE_BYTES, route="/stream/") == sum(len(b"chunk %d\n" % n) for n in range(5))


@pytest.mark.usefixtures("django_registry")
def test_request_factory_response_passes_through_unchanged(registry: CollectorRegistry) -> None:
    expected = HttpResponse("made by the view", status=201, headers={"X-Mine": "1"})

    def view(request: HttpRequest) -> HttpResponse:
        return expected

    middleware = GatewatchMiddleware(view)
    request = RequestFactory().post("/anything/?secret=1", data=b"x", content_type="text/plain")
    assert middleware(request) is expected
    text = scrape(registry)
    # In flight until the server closes the response.
    assert duration_counts(text, "wsgi") == {}
    assert in_flight_values(text) == [1.0]
    expected.close()
    text = scrape(registry)
    # No URL resolution happened: the route stays unmatched, never the raw path.
    assert duration_counts(text, "wsgi") == {("POST", "<unmatched>", "201"): 1}
    assert "secret" not in text and "/anything/" not in text


@pytest.mark.usefixtures("django_registry")
def test_a_streamed_response_is_in_flight_until_closed(registry: CollectorRegistry) -> None:
    response = StreamingHttpResponse(iter([b"a", b"b"]))
    middleware = GatewatchMiddleware(lambda request: response)
    assert middleware(RequestFactory().get("/stream/")) is response
    assert in_flight_values(scrape(registry)) == [1.0]
    assert b"".join(response) == b"ab"
    response.close()
    text = scrape(registry)
    assert in_flight_values(text) == [0.0]
    assert value(text, DURATION_COUNT) == 1


@pytest.mark.usefixtures("django_registry")
def test_an_exception_from_get_response_propagates_unchanged(registry: CollectorRegistry) -> None:
    failure = KeyError("raised past Django's handler")

    def view(request: HttpRequest) -> HttpResponse:
        raise failure

    with pytest.raises(KeyError) as raised:
        GatewatchMiddleware(view)(RequestFactory().get("/"))
    assert raised.value is failure
    text = scrape(registry)
    assert value(text, EXCEPTIONS, exception="KeyError") == 1
    assert in_flight_values(text) == [0.0]


@pytest.mark.usefixtures("django_registry")
def test_async_mode_follows_the_chain_below() -> None:
    async def async_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def sync_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    assert iscoroutinefunction(GatewatchMiddleware(async_view))
    assert not iscoroutinefunction(GatewatchMiddleware(sync_view))
    assert GatewatchMiddleware.sync_capable and GatewatchMiddleware.async_capable


def test_responses_are_the_same_with_and_without_the_middleware(settings: Settings) -> None:
    def fetch() -> list[tuple[int, bytes, list[tuple[str, str]]]]:
        client = Client(raise_request_exception=False)
        out = []
        for path in ("/sync/", "/items/3/", "/stream/", "/error/", "/nope/", "/health/"):
            response = client.get(path)
            body = response.getvalue()
            out.append((response.status_code, body, sorted(response.headers.items())))
        return out

    with_it = fetch()
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "gatewatch" not in m]
    assert fetch() == with_it


@pytest.mark.usefixtures("django_registry")
def test_metrics_and_live_views(settings: Settings) -> None:
    client = Client()
    client.get("/items/4/")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics["Content-Type"].startswith("text/plain")
    assert value(metrics.content.decode(), DURATION_COUNT, route=ITEM) == 1
    # Without a token, nobody: not even a loopback client asking for a loopback host.
    refused = client.get("/_gatewatch/live.json", headers={"Host": "localhost:8000"})
    assert refused.status_code == 403 and "live_token" in json.loads(refused.content)["error"]

    settings.GATEWATCH = {**settings.GATEWATCH, "LIVE_TOKEN": "s3cret"}
    assert client.get("/_gatewatch/live.json", headers={"Host": "localhost:8000"}).status_code == 401
    wrong = client.get("/_gatewatch/live.json", headers={"Authorization": "Bearer s3cre"})
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    live = client.get(
        "/_gatewatch/live.json", REMOTE_ADDR="10.1.2.3", headers={"Authorization": "Bearer s3cret"}
    )
    assert live.status_code == 200
    recent = [r for process in json.loads(live.content)["processes"] for r in process["recent"]]
    # gatewatch's own views (the scrape, the live view) are not the project's requests.
    assert [(r["route_label"], r["view"]) for r in recent] == [(ITEM, f"{VIEWS}.item")]


@pytest.mark.urls("tests.support.django_route_shapes")
@pytest.mark.usefixtures("django_registry")
def test_include_and_re_path_routes_are_labelled_by_their_patterns(registry: CollectorRegistry) -> None:
    client = Client()
    tenants = [f"customer-{n}" for n in range(25)]
    for tenant in tenants:
        assert client.get(f"/t/{tenant}/items/").status_code == 200
        assert client.get(f"/r/{tenant}@example.com/orders/94242/").status_code == 200
    assert client.get("/articles/2026/rawslug/").status_code == 200
    text = scrape(registry)
    # One label per pattern: a re_path regex without its anchors, named groups as <name>.
    assert duration_counts(text, "wsgi") == {
        ("GET", "/t/<slug:tenant>/items/", "200"): 25,
        ("GET", "/r/<tenant>/orders/<order>/", "200"): 25,
        ("GET", "/articles/<year>/(\\w+)/", "200"): 1,
    }
    for raw in ("customer-", "94242", "2026", "rawslug"):
        assert raw not in text
