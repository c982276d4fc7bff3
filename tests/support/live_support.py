"""Shared pieces of the live-view tests: the endpoint's path, values that must never show,
tiny apps, and readers of the JSON the endpoint serves."""

from __future__ import annotations

import json
import os
from typing import Any

from gatewatch import GatewatchASGI, GatewatchWSGI, Monitor
from gatewatch.export.live.schema import parse_live_view
from gatewatch.export.live.state import LiveState
from gatewatch.types import Environ, Receive, Scope, Send, StartResponse
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.wsgi_driver import call, make_environ

LIVE = "/_gatewatch/live.json"
# The live_token of the tests' apps: over HTTP the live view answers nothing else.
TOKEN = "t3st-live-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
# What a server started by a test needs in its environment to answer BEARER.
TOKEN_ENV = {"GATEWATCH_LIVE_TOKEN": TOKEN}
DURATION_COUNT = "gatewatch_http_request_duration_seconds_count"
# Values sent with requests that must never reach the live view.
SECRET_QUERY = "q=qu3ry-s3cret"
SECRET_COOKIE = "session=c00kie-s3cret"
SECRET_PATH = "/items/p4th-s3cret"


def ok_wsgi(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


async def ok_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def fetch_asgi(app: GatewatchASGI, path: str = LIVE, **scope: Any) -> Exchange:
    """``path`` fetched by a local client bearing :data:`TOKEN` unless ``headers`` are given."""
    scope.setdefault(
        "headers", [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {TOKEN}".encode())]
    )
    return await serve(app, http_scope(path, **scope))


def idle_snapshot(pid: int) -> dict[str, Any]:
    """A complete snapshot of an idle process, as ``pid``'s: what a snapshot file of another
    worker holds (files that are not snapshots of the current schema are not merged)."""
    snapshot: dict[str, Any] = dict(LiveState(Monitor()).snapshot())
    snapshot["pid"] = pid
    return snapshot


def only_process(view: dict[str, Any]) -> dict[str, Any]:
    # Every view a test reads fits the schema the dashboard reads it with.
    parse_live_view(view)
    assert view["schema"] == 1
    [process] = view["processes"]
    assert isinstance(process, dict) and process["schema"] == 1
    assert process["pid"] == os.getpid()
    return process


def asgi_view(exchange: Exchange) -> dict[str, Any]:
    assert exchange.status == 200
    return only_process(json.loads(exchange.body))


def wsgi_view(app: GatewatchWSGI, **environ: Any) -> dict[str, Any]:
    environ.setdefault("HTTP_AUTHORIZATION", f"Bearer {TOKEN}")
    response = call(app, make_environ(LIVE, REMOTE_ADDR="127.0.0.1", **environ))
    assert response.status == "200 OK"
    view: dict[str, Any] = json.loads(response.body)
    return only_process(view)


def response_headers(exchange: Exchange) -> dict[bytes, bytes]:
    start = next(m for m in exchange.sent if m["type"] == "http.response.start")
    return dict(start["headers"])
