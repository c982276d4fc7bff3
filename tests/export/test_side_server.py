"""The side server in this process (``side_address``): what it answers and to whom, and a port
it cannot take said in one line while the app runs on."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchWSGI
from gatewatch.demo.servers import LOOPBACK, free_port
from gatewatch.export.live.schema import parse_live_view
from gatewatch.options import OptionError
from gatewatch.runtime import Runtime
from tests.support.live_support import LIVE, TOKEN, ok_wsgi
from tests.support.wsgi_driver import call, make_environ

pytestmark = pytest.mark.usefixtures("no_snapshot_dir")


def test_answers_metrics_and_the_live_view_to_the_token_only(registry: CollectorRegistry) -> None:
    runtime = Runtime()
    with pytest.raises(OptionError, match="side_address"):
        GatewatchWSGI(ok_wsgi, registry=registry, runtime=runtime, side_address="65536", live_token=TOKEN)
    port = free_port()
    app = GatewatchWSGI(ok_wsgi, registry=registry, runtime=runtime, side_address=str(port), live_token=TOKEN)
    try:
        call(app, make_environ("/items/1"))
        side = runtime.side_server
        assert side is not None and (side.host, side.port) == (LOOPBACK, port)
        base = f"http://{LOOPBACK}:{port}"
        metrics = httpx.get(base + "/metrics")
        assert metrics.status_code == 200 and "gatewatch_http_request_duration_seconds" in metrics.text
        assert httpx.get(base + LIVE).status_code == 401
        live = httpx.get(base + LIVE, headers={"Authorization": f"Bearer {TOKEN}"})
        assert live.status_code == 200
        [process] = parse_live_view(live.content)["processes"]
        assert [r["route_label"] for r in process["recent"]] == ["<unmatched>"]
        assert httpx.get(base + "/").status_code == 404
    finally:
        runtime.close()
    # Closed: nothing listens there any more (connections of the test may linger in TIME_WAIT).
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen()


def test_without_a_token_the_live_view_answers_nobody(registry: CollectorRegistry) -> None:
    runtime = Runtime()
    port = free_port()
    try:
        GatewatchWSGI(ok_wsgi, registry=registry, runtime=runtime, side_address=f"{LOOPBACK}:{port}")
        response = httpx.get(f"http://{LOOPBACK}:{port}{LIVE}", headers={"Authorization": "Bearer x"})
        assert response.status_code == 403 and "live_token" in response.json()["error"]
    finally:
        runtime.close()


def test_a_port_taken_is_one_line_and_the_app_runs_on(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = Runtime()
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="gatewatch"):
            app = GatewatchWSGI(ok_wsgi, registry=registry, runtime=runtime, side_address=str(port))
        try:
            assert runtime.side_server is None
            [line] = [r.getMessage() for r in caplog.records if r.name == "gatewatch"]
            assert f"side_address={port}" in line and "\n" not in line
            assert call(app, make_environ("/")).status == "200 OK"
        finally:
            runtime.close()
