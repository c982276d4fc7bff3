"""The live view's per-second totals: exact, old seconds dropped, the concurrency each second's
arrivals saw, and nothing lost when records are added up in batches."""

from __future__ import annotations

import asyncio
import threading

import pytest
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI, GatewatchWSGI
from gatewatch._batches import PENDING_RECORDS
from gatewatch.export.live import state as live_module
from gatewatch.types import Environ, Receive, Scope, Send, StartResponse
from tests.support.asgi_driver import Exchange, http_scope, serve
from tests.support.live_support import (
    TOKEN,
    asgi_view,
    fetch_asgi,
    ok_asgi,
    wsgi_view,
)
from tests.support.wsgi_driver import call, make_environ

# Snapshot files only where a test asks for them.
pytestmark = pytest.mark.usefixtures("no_snapshot_dir")


def test_per_second_totals_are_exact_and_old_seconds_go(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000.25]
    monkeypatch.setattr(live_module, "time", lambda: clock[0])

    def mixed(environ: Environ, start_response: StartResponse) -> list[bytes]:
        if environ["PATH_INFO"] == "/error":
            raise RuntimeError("boom")
        if environ["PATH_INFO"] == "/busy":
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"busy"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b", b"c"]

    app = GatewatchWSGI(mixed, registry=registry, live_token=TOKEN)
    for _ in range(3):
        call(app, make_environ("/ok"))
    for _ in range(2):
        with pytest.raises(RuntimeError):
            call(app, make_environ("/error"))
    call(app, make_environ("/busy"))
    call(app, make_environ("/ok"), stop_after=1)  # the client leaves after one chunk
    # A snapshot adds what finished so far into the totals, each in the wall-clock second of
    # its end (the faked clock's, less the few microseconds since).
    wsgi_view(app)
    clock[0] = 1_000_001.5
    call(app, make_environ("/ok"))

    process = wsgi_view(app)
    first, second = process["per_second"]
    assert {
        k: first[k]
        for k in (
            "second",
            "interface",
            "requests",
            "server_errors",
            "disconnects",
            "exceptions",
            "concurrency_max",
        )
    } == {
        "second": 1_000_000,
        "interface": "wsgi",
        "requests": 7,
        "server_errors": 3,
        "disconnects": 1,
        "exceptions": 2,
        "concurrency_max": 0,
    }
    # The first seven requests finished in the first second (the ring keeps their order).
    in_first = process["recent"][:7]
    assert [entry["status_label"] for entry in in_first] == ["200"] * 3 + ["500"] * 2 + ["503", "499"]
    assert [entry["exception_label"] for entry in in_first] == [None] * 3 + ["RuntimeError"] * 2 + [None] * 2
    assert first["duration_sum"] == pytest.approx(sum(entry["duration"] for entry in in_first))
    assert first["duration_max"] == max(entry["duration"] for entry in in_first)
    assert first["blocking_sum"] == pytest.approx(sum(entry["blocking"] for entry in in_first))
    assert first["blocking_max"] == max(entry["blocking"] for entry in in_first)
    assert (second["second"], second["requests"], second["server_errors"]) == (1_000_001, 1, 0)

    # 300 s later the first second has left the window; the second one is its last second.
    clock[0] = 1_000_300.0
    assert [s["second"] for s in wsgi_view(app)["per_second"]] == [1_000_001]
    # A request 300 s after the second one reuses its slot.
    clock[0] = 1_000_301.75
    call(app, make_environ("/ok"))
    [latest] = wsgi_view(app)["per_second"]
    assert (latest["second"], latest["requests"]) == (1_000_301, 1)


def test_concurrency_at_arrival_per_second(registry: CollectorRegistry) -> None:
    async def main() -> Exchange:
        release = asyncio.Event()

        async def waits(scope: Scope, receive: Receive, send: Send) -> None:
            await release.wait()
            await ok_asgi(scope, receive, send)

        app = GatewatchASGI(waits, registry=registry, live_token=TOKEN)
        tasks = [asyncio.create_task(serve(app, http_scope("/w"))) for _ in range(3)]
        await asyncio.sleep(0.01)
        during = await fetch_asgi(app)
        assert [e["id"] for e in asgi_view(during)["in_flight"]] == [1, 2, 3]
        release.set()
        await asyncio.gather(*tasks)
        return await fetch_asgi(app)

    process = asgi_view(asyncio.run(main()))
    assert sorted(entry["concurrency"] for entry in process["recent"]) == [0, 1, 2]
    assert sum(s["requests"] for s in process["per_second"]) == 3
    assert max(s["concurrency_max"] for s in process["per_second"]) == 2


def test_per_second_totals_added_in_batches_lose_nothing(registry: CollectorRegistry) -> None:
    # Finished records wait in a queue of at most PENDING_RECORDS and are added into the
    # totals a batch at a time, from several threads at once: every request is counted once.
    def ok(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = GatewatchWSGI(ok, registry=registry, live_token=TOKEN)
    state = app.runtime.live_state(app.monitor)

    def serve_many() -> None:
        for _ in range(250):
            call(app, make_environ("/ok"))

    threads = [threading.Thread(target=serve_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(state._pending) < PENDING_RECORDS
    process = wsgi_view(app)
    assert sum(entry["requests"] for entry in process["per_second"]) == 1000
    assert len(process["recent"]) == live_module.RECENT_REQUESTS
    assert len(state._pending) == 0
