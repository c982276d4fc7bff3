"""The demo's load process: it plays the scenarios in a process of its own, says each panel as
it starts, ends by itself, and never outlives the demo (stopped by PID, or gone with its parent)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from gatewatch.demo.load import LoadProcess
from gatewatch.demo.scenarios import STARLETTE_FLASK_SCENARIOS, Side
from gatewatch.demo.servers import LOOPBACK, free_port
from tests.support.readme_commands import alive


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def _nowhere() -> Side:
    # Nothing listens there: every request fails at once, the clients go on until their time is up.
    return Side("ASGI", "asgi", f"http://{LOOPBACK}:{free_port()}")


def test_the_load_says_each_panel_and_ends_by_itself() -> None:
    side = _nowhere()
    with LoadProcess("starlette-flask", [side], duration=1.0) as load:
        assert load.pid != os.getpid()
        panels = list(load.panels())
    assert [panel.split("\n")[0] for panel in panels] == [
        scenario.panel(index, len(STARLETTE_FLASK_SCENARIOS)).split("\n")[0]
        for index, scenario in enumerate(STARLETTE_FLASK_SCENARIOS, 1)
    ]
    # What its clients saw came back to the parent's Side.
    assert side.failures > 0 and side.responses == 0
    assert not alive(load.pid)


def test_leaving_the_block_stops_the_load_by_pid() -> None:
    with LoadProcess("starlette-flask", [_nowhere()], duration=300.0) as load:
        assert next(load.panels()).startswith("Scenario 1/4")
        assert alive(load.pid)
    assert _gone(load.pid)


def test_the_load_goes_with_its_parent() -> None:
    """A demo killed outright (SIGKILL: no cleanup runs) leaves no load running."""
    url = f"http://{LOOPBACK}:{free_port()}"
    parent = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os\n"
            "from gatewatch.demo.load import LoadProcess\n"
            "from gatewatch.demo.scenarios import Side\n"
            f"load = LoadProcess('starlette-flask', [Side('ASGI', 'asgi', {url!r})], 300.0)\n"
            "load.start()\n"
            "print(load.pid, flush=True)\n"
            "next(load.panels())\n"
            "os._exit(0)\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    pid = int(parent.stdout.split()[0])
    assert _gone(pid), f"load process {pid} outlived its parent"


def test_stepped_each_scenario_runs_until_told() -> None:
    """The live demo's test steps through the scenarios (LoadProcess(stepped=True)): each plays
    until told, however long its share of the duration (300 s here)."""
    with LoadProcess("starlette-flask", [_nowhere()], duration=300.0, stepped=True) as load:
        panels = load.panels()
        firsts = []
        for _ in STARLETTE_FLASK_SCENARIOS:
            firsts.append(next(panels).split("\n")[0])
            assert alive(load.pid)
            load.next_scenario()
        assert list(panels) == []  # the child ends once the last scenario is told: exit status 0
    assert firsts == [
        scenario.panel(index, len(STARLETTE_FLASK_SCENARIOS)).split("\n")[0]
        for index, scenario in enumerate(STARLETTE_FLASK_SCENARIOS, 1)
    ]
    assert _gone(load.pid)
