"""Snapshots of every tab of ``gatewatch top`` in four states: busy (the recorded ASGI and WSGI
servers read every 5 s for 30 s), idle (the same servers before their first request), with
every hostile name an app could give, and busy on a narrow terminal (100 x 30).

A change to the dashboard that changes a screen fails here; when the change is meant, look at
the report and update with ``pytest --snapshot-update``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from gatewatch_dashboard.app import TABS
from gatewatch_dashboard.sources import RecordedSource
from textual.pilot import Pilot

from tests.support.dashboard_support import ASGI_SOURCE, WSGI_SOURCE, recorded_app, started
from tests.support.hostile_names import hostile
from tests.support.live_timeline import asgi_timeline, idle, wsgi_timeline

WIDE = (120, 40)
NARROW = (100, 30)
# (what each reading becomes, the terminal, whether every reading of the timeline is read or
# only its first and last: enough for figures over 30 s where the charts are not the point)
STATES: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], tuple[int, int], bool]] = {
    "busy": (lambda view: view, WIDE, True),
    "idle": (idle, WIDE, False),
    "hostile": (hostile, WIDE, False),
    "narrow": (lambda view: view, NARROW, True),
}


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("tab", [tab for tab, _ in TABS])
def test_snapshot(tab: str, state: str, snap_compare: Callable[..., bool]) -> None:
    change, size, every = STATES[state]
    timelines = [asgi_timeline(), wsgi_timeline()]
    if not every:
        timelines = [[views[0], views[-1]] for views in timelines]
    sources = [
        RecordedSource(name, [change(view) for view in views])
        for name, views in zip((ASGI_SOURCE, WSGI_SOURCE), timelines, strict=True)
    ]

    async def before(pilot: Pilot[None]) -> None:
        await started(pilot, polls=len(timelines[0]))
        pilot.app.action_show_tab(tab)  # type: ignore[attr-defined]
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(recorded_app(sources), run_before=before, terminal_size=size)
