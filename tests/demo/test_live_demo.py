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

# The load runs stepped: each scenario until this test has seen on screen what its panel says,
# then the next; its share of DURATION (48, 32, 32 and 48 s) only bounds it, and a scenario
# never seen fails the test. On a busy machine the dashboard polled only every 2 s: each bound
# is still tens of polls. (Seen on a machine loaded past its two cores: 3 to 5 s a scenario.)
DURATION = 160.0


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


def _shows_what_its_panel_says(key: str, polls: list[dict[str, Any]]) -> bool:
    """What each scenario's panel promises, seen in its polls so far."""
    asgi = [poll["asgi"] for poll in polls if "asgi" in poll]
    wsgi = [poll["wsgi"] for poll in polls if "wsgi" in poll]
    if key == "slow-io":
        # "ASGI: up to all 16 in flight at once (In flight, Overview)"; "WSGI: both workers busy".
        # (Seen: a median of 16 a poll on a quiet machine, 14 under two CPU burners.)
        return any(len(seen["in_flight"]) == 16 for seen in asgi) and any(seen["busy"] == 2 for seen in wsgi)
    if key == "websockets":
        # The 8 sessions open on ASGI.
        return any(seen["websockets"] == 8 for seen in asgi)
    if key == "long-stream":
        # "the two streams hold both workers (Workers: 2 of 2 busy; In flight: the two /stream)".
        return any(seen["busy"] == 2 and seen["in_flight"] == ["/stream", "/stream"] for seen in wsgi)
    if key == "blocking":
        # "the loop lag reaches the sleep".
        return any((seen["lag"] or 0) >= 0.95 * BLOCKING_SLEEP for seen in asgi)
    raise AssertionError(f"no check for the scenario {key!r}")


@pytest.mark.anyio
@pytest.mark.timeout(DURATION + 120)
async def test_each_scenario_shows_what_its_panel_says() -> None:
    polls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    titles = {scenario.title: scenario.key for scenario in STARLETTE_FLASK_SCENARIOS}
    shown: list[str] = []
    with (
        running_servers(STARLETTE_FLASK, None) as servers,
        demo_app(TopApp, STARLETTE_FLASK, servers, DURATION, stepped=True) as session,
    ):
        top, load = session.top, session.load
        async with top.run_test(size=(160, 44)) as pilot:
            counted = -1
            # Bounded: the load ends by itself past DURATION (its process a few seconds later).
            for _ in range(int((DURATION + 60) / 0.1)):
                await pilot.pause(0.1)
                if load.process is not None and load.process.poll() is not None:
                    break
                if top.polls == counted:
                    continue
                counted = top.polls
                title = top.scenario.split("\n")[0].partition(": ")[2]
                if title not in titles:
                    continue
                key = titles[title]
                polls[key].append(_seen(top.readings))
                # One step a scenario: the panel changes a poll or so after the step.
                if key not in shown and _shows_what_its_panel_says(key, polls[key]):
                    shown.append(key)
                    load.next_scenario()
            # The clients ran in a process of their own, and it ended by itself.
            assert load.pid != os.getpid()
            assert load.process is not None and load.process.wait(timeout=30) == 0
            top.paused = True
            await pilot.pause(1.0)
        pids = [server.pid for _, server in servers]
    assert not alive(load.pid)
    assert not any(alive(pid) for pid in pids)
    print({key: len(seen) for key, seen in polls.items()})
    # Every scenario showed what its panel says, in the order played.
    assert shown == list(titles.values()), {key: polls[key][-3:] for key in polls}

    # Never more in flight than its 16 clients.
    assert max(len(poll["asgi"]["in_flight"]) for poll in polls["slow-io"] if "asgi" in poll) == 16
