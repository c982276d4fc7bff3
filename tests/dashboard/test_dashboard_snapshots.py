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
from pytest_textual_snapshot import SVGImageExtension  # type: ignore[import-untyped]
from syrupy.assertion import SnapshotAssertion
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
def test_snapshot(state: str, snapshot: SnapshotAssertion) -> None:
    """Each tab in turn on one run of the app (one start, not one a tab), compared to its SVG
    (``test_snapshot[STATE][TAB].svg``) as pytest-textual-snapshot's ``snap_compare`` takes it."""
    change, size, every = STATES[state]
    timelines = [asgi_timeline(), wsgi_timeline()]
    if not every:
        timelines = [[views[0], views[-1]] for views in timelines]
    sources = [
        RecordedSource(name, [change(view) for view in views])
        for name, views in zip((ASGI_SOURCE, WSGI_SOURCE), timelines, strict=True)
    ]
    app = recorded_app(sources)
    screens: dict[str, str] = {}

    async def each_tab(pilot: Pilot[Any]) -> None:
        await started(pilot, polls=len(timelines[0]))
        # Focus as on a fresh start before each tab is shown (where it goes next depends on it:
        # on a tab without a focusable widget, to the tab bar, drawn highlighted).
        first = app.focused
        for tab, _ in TABS:
            app.set_focus(first)
            app.action_show_tab(tab)
            # What textual._doc.take_svg_screenshot waits for before it exports.
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            screens[tab] = app.export_screenshot(title=app.title, simplify=True)
        app.exit()

    app.run(headless=True, auto_pilot=each_tab, size=size)
    assert list(screens) == [tab for tab, _ in TABS]
    svgs = snapshot.use_extension(SVGImageExtension)
    # Every tab compared (and written by --snapshot-update), then the ones that differ named.
    differ = [tab for tab, svg in screens.items() if svgs(name=tab) != svg]
    assert not differ, f"{state}: these tabs differ from their snapshots: {differ}"
