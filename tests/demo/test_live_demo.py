"""The live demo as a user sees it: the dashboard (headless, ``run_test``) on the demo's two real
servers, the load in a process of its own, and what each scenario's panel says checked against
what the dashboard reads while it runs."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import pytest
from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.model import Reading

from gatewatch.demo.live_demo import demo_app, running_servers
from gatewatch.demo.plan import STARLETTE_FLASK
from gatewatch.demo.scenarios import BLOCKING_SLEEP, STARLETTE_FLASK_SCENARIOS
from tests.support.readme_commands import alive

pytestmark = pytest.mark.slow

# Long enough for a few polls in each scenario on a busy machine (its shares: 30/20/20/30 %):
# under two CPU burners and a load average of 12, the dashboard polled only every 2 s.
DURATION = 40.0


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio."""
    return "asyncio"


def _seen(readings: tuple[Reading, ...]) -> dict[str, Any]:
    """What one poll puts on screen, per interface: the In flight tab's rows (their routes), the
    open WebSocket sessions, busy WSGI workers and the loop lag now."""
    seen: dict[str, Any] = {}
    for reading in readings:
        if reading.view is None or reading.error is not None:
            continue
        for stats in reading.interfaces:
            processes = reading.view["processes"]
            seen[stats.interface] = {
                "in_flight": [row["route"] for p in processes for row in p["in_flight"]],
                "websockets": sum(len(p["websockets"]["open"]) for p in processes),
                "busy": stats.busy,
                "lag": stats.lag,
            }
    return seen


@pytest.mark.anyio
async def test_each_scenario_shows_what_its_panel_says() -> None:
    polls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    titles = {scenario.title: scenario.key for scenario in STARLETTE_FLASK_SCENARIOS}
    with (
        running_servers(STARLETTE_FLASK, None) as servers,
        demo_app(TopApp, STARLETTE_FLASK, servers, DURATION) as session,
    ):
        top, load = session.top, session.load
        async with top.run_test(size=(160, 44)) as pilot:
            counted = -1
            # Bounded: the load ends by itself after DURATION (its process a few seconds later).
            for _ in range(int((DURATION + 60) / 0.1)):
                await pilot.pause(0.1)
                if load.process is not None and load.process.poll() is not None:
                    break
                if top.polls == counted:
                    continue
                counted = top.polls
                title = top.scenario.split("\n")[0].partition(": ")[2]
                if title in titles:
                    polls[titles[title]].append(_seen(top.readings))
            # The clients ran in a process of their own, and it ended by itself.
            assert load.pid != os.getpid()
            assert load.process is not None and load.process.wait(timeout=30) == 0
            top.paused = True
            await pilot.pause(1.0)
        pids = [server.pid for _, server in servers]
    assert not alive(load.pid)
    assert not any(alive(pid) for pid in pids)
    print({key: len(seen) for key, seen in polls.items()})
    assert set(polls) == set(titles.values())

    # slow I/O: "ASGI: up to all 16 in flight at once (In flight, Overview)"; "WSGI: both workers busy".
    # (Seen: a median of 16 a poll on a quiet machine, 14 under two CPU burners.)
    assert max(len(poll["asgi"]["in_flight"]) for poll in polls["slow-io"] if "asgi" in poll) == 16
    assert any(poll.get("wsgi", {}).get("busy") == 2 for poll in polls["slow-io"])
    # WebSockets: the 8 sessions open on ASGI.
    assert any(poll.get("asgi", {}).get("websockets") == 8 for poll in polls["websockets"])
    # a long stream: "the two streams hold both workers (Workers: 2 of 2 busy; In flight: the two /stream)".
    assert any(
        poll.get("wsgi", {}).get("busy") == 2 and poll["wsgi"]["in_flight"] == ["/stream", "/stream"]
        for poll in polls["long-stream"]
    )
    # blocking: "the loop lag reaches the sleep".
    assert any((poll.get("asgi", {}).get("lag") or 0) >= 0.95 * BLOCKING_SLEEP for poll in polls["blocking"])
