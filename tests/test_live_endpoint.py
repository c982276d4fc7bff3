"""Who may read the live view (loopback, tokens, proxies), and the options that serve it."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from wsgiref.validate import validator

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch.live.endpoint import authorize, is_loopback, is_loopback_host_header
from tests.support.live_support import (
    DURATION_COUNT,
    LIVE,
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
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("2001:db8::1", False),
        ("0.0.0.0", False),
        ("localhost", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_addresses(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert authorize(host, None, None, host="127.0.0.1:8000") is loopback
    assert authorize(host, None, None, host="127.0.0.1:8000", forwarded=True) is False


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST:80", True),
        ("localhost.", True),
        ("127.9.9.9:1", True),
        ("example.com", False),
        ("example.com:8000", False),
        ("10.0.0.5:8000", False),
        ("[2001:db8::1]:443", False),
        ("localhost.example.com", False),
        ("[::1", False),
        ("", False),
        (None, False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_a_loopback_client_must_also_ask_for_a_loopback_host(host: str | None, local: bool) -> None:
    """Through a plain TCP forwarder every client is loopback; the Host it asked for is not."""
    assert is_loopback_host_header(host) is local
    assert authorize("127.0.0.1", None, None, host=host) is local
    # A token still opens it from anywhere, whatever the Host.
    assert authorize("127.0.0.1", "Bearer t0ken", "t0ken", host=host) is True


@pytest.mark.parametrize(
    ("host", "authorization", "allowed"),
    [
        ("10.0.0.5", "Bearer s3cret-token", True),
        ("127.0.0.1", "bearer s3cret-token", True),
        ("10.0.0.5", "Bearer  s3cret-token ", True),
        ("127.0.0.1", None, False),
        ("127.0.0.1", "Bearer wrong", False),
        ("10.0.0.5", "Basic s3cret-token", False),
        ("10.0.0.5", "Bearer s3cret-token-longer", False),
        ("10.0.0.5", "s3cret-token", False),
        ("10.0.0.5", "Bearer s3crét-token", False),
        (None, "Bearer s3cret-token", True),
    ],
)
def test_token(host: str | None, authorization: str | None, allowed: bool) -> None:
    assert authorize(host, authorization, "s3cret-token", host="example.com") is allowed


@pytest.mark.parametrize(
    ("client", "headers", "status"),
    [
        (("127.0.0.1", 5000), [(b"host", b"127.0.0.1:8000")], 200),
        (("::1", 5000, 0, 0), [(b"host", b"[::1]:8000")], 200),
        (("127.0.0.1", 5000), [(b"host", b"localhost:8000")], 200),
        (("127.0.0.1", 5000), [], 403),
        (("127.0.0.1", 5000), [(b"host", b"gatewatch.example.com")], 403),
        (("10.1.2.3", 5000), [(b"host", b"127.0.0.1:8000")], 403),
        (None, [(b"host", b"127.0.0.1:8000")], 403),
        (("127.0.0.1", 5000), [(b"host", b"127.0.0.1"), (b"x-forwarded-for", b"203.0.113.9")], 403),
        (("127.0.0.1", 5000), [(b"host", b"127.0.0.1"), (b"forwarded", b"for=203.0.113.9")], 403),
    ],
)
def test_asgi_endpoint_answers_loopback_only(
    registry: CollectorRegistry, client: Any, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry)
    exchange = asyncio.run(fetch_asgi(app, client=client, headers=headers))
    assert exchange.status == status
    if status == 403:
        assert json.loads(exchange.body)["error"].startswith("forbidden")
        assert b"processes" not in exchange.body
    assert response_headers(exchange)[b"cache-control"] == b"no-store"
    assert value(registry, DURATION_COUNT) == 0


@pytest.mark.parametrize(
    ("remote", "extra", "status"),
    [
        ("127.0.0.1", {}, "200 OK"),
        ("::1", {}, "200 OK"),
        ("192.168.1.20", {}, "403 Forbidden"),
        (None, {}, "403 Forbidden"),
        ("127.0.0.1", {"HTTP_X_REAL_IP": "203.0.113.9"}, "403 Forbidden"),
        ("127.0.0.1", {"HTTP_HOST": "shop.example.com"}, "403 Forbidden"),
        ("127.0.0.1", {"HTTP_HOST": "localhost:5000"}, "200 OK"),
    ],
)
def test_wsgi_endpoint_answers_loopback_only(
    registry: CollectorRegistry, remote: str | None, extra: dict[str, str], status: str
) -> None:
    app = GatewatchWSGI(ok_wsgi, registry=registry)
    environ = make_environ(LIVE)
    environ.update(extra)
    environ.pop("REMOTE_ADDR", None)
    if remote is not None:
        environ["REMOTE_ADDR"] = remote
    response = call(validator(app), environ)
    assert response.status == status
    assert dict(response.headers)["Content-Type"] == "application/json"
    assert ("processes" in json.loads(response.body)) is (status == "200 OK")
    assert value(registry, DURATION_COUNT) == 0


def test_token_on_both_middlewares(registry: CollectorRegistry) -> None:
    wsgi_app = validator(GatewatchWSGI(ok_wsgi, registry=registry, live_token="t0ken"))
    asgi_app = GatewatchASGI(ok_asgi, registry=registry, live_token="t0ken")
    cases = [
        ("127.0.0.1", None, 403),
        ("10.0.0.5", "Bearer t0ken", 200),
        ("10.0.0.5", "Bearer t0ken2", 403),
        ("127.0.0.1", "Bearer t0ken", 200),
    ]
    for remote, authorization, status in cases:
        environ = make_environ(LIVE, REMOTE_ADDR=remote)
        headers = []
        if authorization is not None:
            environ["HTTP_AUTHORIZATION"] = authorization
            headers.append((b"authorization", authorization.encode()))
        assert int(call(wsgi_app, environ).status[:3]) == status
        exchange = asyncio.run(fetch_asgi(asgi_app, client=(remote, 4000), headers=headers))
        assert exchange.status == status


def test_only_get_and_head(registry: CollectorRegistry) -> None:
    app = GatewatchASGI(ok_asgi, registry=registry)
    posted = asyncio.run(fetch_asgi(app, method="POST"))
    assert posted.status == 405 and response_headers(posted)[b"allow"] == b"GET, HEAD"
    head = asyncio.run(fetch_asgi(app, method="HEAD"))
    assert head.status == 200 and head.body == b""
    assert int(response_headers(head)[b"content-length"]) > 0
    wsgi = GatewatchWSGI(ok_wsgi, registry=CollectorRegistry())
    deleted = call(wsgi, make_environ(LIVE, "DELETE", REMOTE_ADDR="127.0.0.1"))
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
    app = GatewatchASGI(ok_asgi, registry=registry, live_path="/ops/live", metrics_path="/metrics")
    assert asgi_view(asyncio.run(fetch_asgi(app, "/ops/live")))["recent"] == []
    assert asyncio.run(fetch_asgi(app, LIVE)).body == b"ok"
    assert asyncio.run(fetch_asgi(app, "/metrics")).status == 200
    assert asgi_view(asyncio.run(fetch_asgi(app, "/ops/live")))["recent"][0]["route_label"] == "<unmatched>"
