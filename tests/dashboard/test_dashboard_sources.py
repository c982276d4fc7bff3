"""``gatewatch top``'s live sources: an endpoint that sends bad JSON, goes away or refuses (the
``/metrics`` and Prometheus sources: test_dashboard_metrics_source.py and
test_dashboard_prometheus_source.py)."""

from __future__ import annotations

import httpx
import pytest
from gatewatch_dashboard.sources import LiveSource, RecordedSource
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from tests.support.dashboard_support import (
    ASGI_SOURCE,
    SIZE,
    recorded_app,
    screen_text,
    started,
)
from tests.support.live_fixtures import ASGI_FILE
from tests.support.live_support import ok_asgi

# -- failing sources -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_bad_or_partial_json_never_crashes_and_keeps_the_last_view() -> None:
    good = ASGI_FILE.read_bytes()
    source = RecordedSource(
        ASGI_SOURCE, [good, good[: len(good) // 2], b"<html>502</html>", b'{"schema": 2}', good]
    )
    app = recorded_app([source])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for expected in ("not JSON", "not JSON", "schema 2"):
            await app.poll_once()
            await pilot.pause()
            [reading] = app.readings
            assert reading.error is not None and expected in reading.error
            assert reading.view is not None  # the last good view is still shown
            assert "retrying" in screen_text(app)
        await app.poll_once()
        await pilot.pause()
        assert app.readings[0].error is None


@pytest.mark.anyio
async def test_an_endpoint_that_goes_away_is_named_and_retried() -> None:
    body = ASGI_FILE.read_bytes()
    up = [True]

    def answer(request: httpx.Request) -> httpx.Response:
        if not up[0]:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    source = LiveSource("http://127.0.0.1:8001/_gatewatch/live.json", client=client)
    app = recorded_app([source])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.readings[0].error is None
        up[0] = False
        await app.poll_once()
        await pilot.pause()
        assert "unreachable (connection refused); retrying (its last answer below)" in screen_text(app)
        assert "1 not answering (retrying)" in screen_text(app)
        up[0] = True
        await app.poll_once()
        await pilot.pause()
        assert app.readings[0].error is None
        assert "not answering" not in screen_text(app)


@pytest.mark.anyio
@pytest.mark.usefixtures("no_snapshot_dir")
async def test_a_refusing_live_endpoint_says_why() -> None:
    """No token set on the server, or none sent: the endpoint's one line is on screen."""
    for server_token, sent, expected in (
        (None, "t0ken", "answered HTTP 403: the live view over HTTP is off: set live_token"),
        ("t0ken", None, "answered HTTP 401: unauthorized: send Authorization: Bearer <live_token>"),
    ):
        app = GatewatchASGI(ok_asgi, registry=CollectorRegistry(), live_token=server_token)
        headers = {"Authorization": f"Bearer {sent}"} if sent else {}
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=headers)
        source = LiveSource("http://127.0.0.1:8001/_gatewatch/live.json", client=client)
        reading = await source.read()
        assert reading.error is not None and reading.error.startswith(expected), reading.error
        await source.close()
