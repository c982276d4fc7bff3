"""The tabs saying which window they cover, on counters read at known times."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.model import Reading
from gatewatch_dashboard.widgets.tab_view import fill
from rich.text import Text
from textual.widgets import DataTable

from tests.support.dashboard_support import SIZE, rows, screen_text
from tests.support.window_counters import (
    ITEMS,
    ROOT,
    SINCE_START,
    TEN_S,
    process,
    reading,
    route,
)

# -- the tabs --------------------------------------------------------------------------------


class ScriptedSource:
    """Readings given in order, the last one repeated: the counters of a source at known times."""

    kind = "live"

    def __init__(self, name: str, readings: Sequence[Reading]) -> None:
        self.name = name
        self._readings = list(readings)
        self._index = 0

    async def read(self) -> Reading:
        found = self._readings[min(self._index, len(self._readings) - 1)]
        self._index += 1
        return found

    async def close(self) -> None:
        return None


def scripted_app() -> TopApp:
    routes_then = {ROOT: route(100, fast=100), ITEMS: route(50)}
    routes_now = {ROOT: route(300, fast=300), ITEMS: route(200, errors=2), ("asgi", "/idle"): route(7)}
    script = [
        reading(1000.0, process(1000.0, {**routes_then, ("asgi", "/idle"): route(7)})),
        reading(1030.0, process(1030.0, routes_now)),
    ]
    return TopApp([ScriptedSource("app", script)], poll=False)


async def _two_polls(app: TopApp, pilot: object) -> None:
    await app.poll_once()
    await app.poll_once()
    await pilot.pause()  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_routes_count_what_the_counters_say_over_the_window_chosen() -> None:
    app = scripted_app()
    async with app.run_test(size=SIZE) as pilot:
        await _two_polls(app, pilot)
        await pilot.press("4")
        assert {row[2]: row[3] for row in rows(app)} == {"/": "200", "/items/{item_id}": "150"}
        assert "last 60 s (30 s so far): 2 routes with requests" in screen_text(app)
        assert "window: last 60 s (w)" in screen_text(app)
        await pilot.press("w")  # last 5 min
        await pilot.press("w")  # since start: the counters themselves, as /metrics has them
        assert app.window == SINCE_START
        assert {row[2]: row[3] for row in rows(app)} == {"/": "300", "/items/{item_id}": "200", "/idle": "7"}
        assert {row[2]: row[11] for row in rows(app)}["/items/{item_id}"] == "2"
        text = screen_text(app)
        assert "since start (2 min 10 s): 3 routes with requests" in text
        assert "window: since start (w)" in text
        await pilot.press("w")
        assert app.window == TEN_S
        assert "last 10 s (over 30 s): 2 routes" in screen_text(app)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("2", "now: 0 running"),
        ("3", "last 60 s (30 s so far): 0 sessions"),
        ("4", "last 60 s (30 s so far): 2 routes"),
        ("6", "last 60 s (30 s so far): 0 requests took"),
    ],
)
async def test_every_tab_says_its_window(key: str, says: str) -> None:
    app = scripted_app()
    async with app.run_test(size=SIZE) as pilot:
        await _two_polls(app, pilot)
        await pilot.press(key)
        assert says in screen_text(app)


class FailingAfter(ScriptedSource):
    """Its readings, then no answer: as the app sees a server that stopped."""

    async def read(self) -> Reading:
        if self._index >= len(self._readings):
            raise ConnectionError("connection refused")
        return await super().read()


@pytest.mark.anyio
async def test_a_source_that_stops_answering_keeps_its_figures_and_says_so() -> None:
    script = [reading(at, process(at, {ROOT: route(at - 900)})) for at in (1000.0, 1010.0)]
    app = TopApp([FailingAfter("app", script)], poll=False)
    async with app.run_test(size=SIZE) as pilot:
        await _two_polls(app, pilot)
        await app.poll_once()
        await pilot.pause()
        await pilot.press("4")
        assert [row[3] for row in rows(app)] == ["10"]
        text = screen_text(app)
        assert "app: ConnectionError: connection refused; retrying" in text
        assert "1 not answering (retrying)" in text


@pytest.mark.anyio
async def test_a_table_filled_with_the_same_rows_is_left_as_it_is() -> None:
    app = scripted_app()
    async with app.run_test(size=SIZE) as pilot:
        await _two_polls(app, pilot)
        await pilot.press("4")
        table = app.query_one("#routes DataTable", DataTable)
        fill(table, [["x", Text("1")]])
        keys = list(table.rows)
        fill(table, [["x", Text("1")]])  # the same rows again: nothing to redraw
        assert list(table.rows) == keys
        fill(table, [["x", Text("1", style="bold red")]])  # only its style changed: redrawn
        assert getattr(table.get_row_at(0)[1], "style", "") == "bold red"


@pytest.mark.anyio
async def test_the_scenario_panel_shows_what_runs_now() -> None:
    app = scripted_app()
    async with app.run_test(size=SIZE) as pilot:
        app.set_scenario("ASGI: [bold]16 in flight[/]")
        await pilot.pause()
        assert "ASGI: [bold]16 in flight[/]" in screen_text(app)  # data, never markup
        app.set_scenario("")
        await pilot.pause()
        assert "16 in flight" not in screen_text(app)
