"""Who may read the live view over HTTP (a token's bearer, nobody else), and the options that serve it."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any
from wsgiref.validate import validator

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.export.live.endpoint import authorize
from tests.support.live_support import (
    DURATION_COUNT,
    LIVE,
    TOKEN,
    asgi_view,
    fetch_asgi,
    ok_asgi,
    ok_wsgi,
    response_headers,
)
from tests.support.scrape import value
from tests.support.wsgi_driver import call, make_environ

# Snapshot files only where a test asks for them.
pytestmark = pytest.mark.usefixtures("no_snapshot_dir")


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer s3cret-token", 200),
        ("bearer s3cret-token", 200),
        ("Bearer  s3cret-token ", 200),
        (None, 401),
        ("Bearer wrong", 401),
        ("Basic s3cret-token", 401),
        ("Bearer s3cret-token-longer", 401),
        ("s3cret-token", 401),
        ("Bearer s3crét-token", 401),
    ],
)
def test_token(authorization: str | None, status: int) -> None:
    assert authorize(authorization, "s3cret-token") == status
    # Without a token nobody is let in, whatever the request carries.
    assert authorize(authorization, None) == 403


# What used to make a request "local": none of it opens the view any more.
LOCAL_LOOKING = [
    (("127.0.0.1", 5000), [(b"host", b"127.0.0.1:8000")]),
    (("::1", 5000, 0, 0), [(b"host", b"[::1]:8000")]),
    (("127.0.0.1", 5000), [(b"host", b"localhost:8000")]),
    (("127.0.0.1", 5000), []),
    (None, [(b"host", b"127.0.0.1:8000")]),
    (("10.1.2.3", 5000), [(b"host", b"127.0.0.1:8000")]),
]


@pytest.mark.parametrize(("client", "headers"), LOCAL_LOOKING)
def test_asgi_without_a_token_answers_nobody(
    registry: CollectorRegistry, client: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry)
    exchange = asyncio.run(fetch_asgi(app, client=client, headers=headers))
    assert exchange.status == 403
    assert "live_token" in json.loads(exchange.body)["error"]
    assert b"processes" not in exchange.body
    assert response_headers(exchange)[b"cache-control"] == b"no-store"
    assert value(registry, DURATION_COUNT) == 0


@pytest.mark.parametrize(("client", "headers"), LOCAL_LOOKING)
def test_asgi_with_a_token_answers_its_bearer_only(
    registry: CollectorRegistry, client: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry, live_token="t0ken")
    refused = asyncio.run(fetch_asgi(app, client=client, headers=headers))
    assert refused.status == 401 and b"processes" not in refused.body
    assert response_headers(refused)[b"www-authenticate"].startswith(b"Bearer")
    bearer = asyncio.run(
        fetch_asgi(app, client=client, headers=[*headers, (b"authorization", b"Bearer t0ken")])
    )
    assert bearer.status == 200 and "processes" in json.loads(bearer.body)
    assert value(registry, DURATION_COUNT) == 0


@pytest.mark.parametrize(
    ("remote", "extra"),
    [
        ("127.0.0.1", {}),
        ("::1", {}),
        ("127.0.0.1", {"HTTP_HOST": "localhost:5000"}),
        ("192.168.1.20", {}),
        (None, {}),
    ],
)
def test_wsgi_answers_the_token_only(
    registry: CollectorRegistry, remote: str | None, extra: dict[str, str]
) -> None:
    for token, authorization, status in [
        (None, None, "403 Forbidden"),
        (None, "Bearer t0ken", "403 Forbidden"),
        ("t0ken", None, "401 Unauthorized"),
        ("t0ken", "Bearer t0ken2", "401 Unauthorized"),
        ("t0ken", "Bearer t0ken", "200 OK"),
    ]:
        app = GatewatchWSGI(ok_wsgi, registry=CollectorRegistry(), live_token=token)
        environ = make_environ(LIVE)
        environ.update(extra)
        environ.pop("REMOTE_ADDR", None)
        if remote is not None:
            environ["REMOTE_ADDR"] = remote
        if authorization is not None:
            environ["HTTP_AUTHORIZATION"] = authorization
        response = call(validator(app), environ)
        assert response.status == status
        assert dict(response.headers)["Content-Type"] == "application/json"
        assert ("processes" in json.loads(response.body)) is (status == "200 OK")


def test_only_get_and_head(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry, live_token=TOKEN)
    posted = asyncio.run(fetch_asgi(app, method="POST"))
    assert posted.status == 405 and response_headers(posted)[b"allow"] == b"GET, HEAD"
    head = asyncio.run(fetch_asgi(app, method="HEAD"))
    assert head.status == 200 and head.body == b""
    assert int(response_headers(head)[b"content-length"]) > 0
    wsgi = GatewatchWSGI(ok_wsgi, registry=CollectorRegistry(), live_token=TOKEN)
    deleted = call(wsgi, make_environ(LIVE, "DELETE", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"))
    assert deleted.status == "405 Method Not Allowed"


# --- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize("middleware", [GatewatchASGI, GatewatchWSGI])
@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"live_path": "live.json"}, ValueError, "live_path must start with '/'"),
        ({"live_path": 5}, TypeError, "live_path must be a str or None"),
        ({"live_path": "/metrics", "metrics_path": "/metrics"}, ValueError, "live_path must differ"),
        ({"metrics_path": LIVE}, ValueError, "live_path must differ"),
        ({"live_token": ""}, ValueError, "live_token must be a non-empty"),
        ({"live_token": "two words"}, ValueError, "live_token must be a non-empty"),
        ({"live_token": "tøken"}, ValueError, "live_token must be a non-empty"),
        ({"live_token": b"bytes"}, TypeError, "live_token must be a str or None"),
        ({"live_token": "t0ken", "live_path": None}, ValueError, "live_token has no effect"),
    ],
)
def test_bad_live_option_names_itself(
    middleware: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    app = ok_asgi if middleware is GatewatchASGI else ok_wsgi
    with pytest.raises(error, match=message):
        middleware(app, registry=CollectorRegistry(), **options)


def test_live_path_none_passes_the_default_path_to_the_app(registry: CollectorRegistry) -> None:
    app = GatewatchWSGI(ok_wsgi, registry=registry, live_path=None)
    assert call(app, make_environ(LIVE, REMOTE_ADDR="127.0.0.1")).body == b"ok"
    assert value(registry, DURATION_COUNT) == 1


def test_custom_live_path(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(
        ok_asgi, registry=registry, live_path="/ops/live", metrics_path="/metrics", live_token=TOKEN
    )
    assert asgi_view(asyncio.run(fetch_asgi(app, "/ops/live")))["recent"] == []
    assert asyncio.run(fetch_asgi(app, LIVE)).body == b"ok"
    assert asyncio.run(fetch_asgi(app, "/metrics")).status == 200
    assert asgi_view(asyncio.run(fetch_asgi(app, "/ops/live")))["recent"][0]["route_label"] == "<unmatched>"


def test_the_asgi_view_is_built_off_the_event_loop(registry: CollectorRegistry) -> None:
    # Built on the event loop, a poll held every request of the app for as long as it took.
    app = GatewatchASGI(ok_asgi, registry=registry, live_token=TOKEN)
    state = app.runtime.live_state(app.monitor)
    built_on: list[threading.Thread] = []
    view_json = state.view_json

    def watched() -> bytes:
        built_on.append(threading.current_thread())
        return view_json()

    state.view_json = watched  # type: ignore[method-assign]
    try:

        async def main() -> tuple[Any, threading.Thread]:
            return await fetch_asgi(app), threading.current_thread()

        exchange, loop_thread = asyncio.run(main())
    finally:
        del state.view_json
    assert exchange.status == 200 and json.loads(exchange.body)["processes"]
    [thread] = built_on
    assert thread is not loop_thread and thread.name.startswith("gatewatch-live")
