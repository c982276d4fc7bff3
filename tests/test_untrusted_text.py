"""Every string from an app is data in every output (issue 26 item 6): ``gatewatch top`` on a
real Django ``re_path`` route and on hostile names in every tab, never reading them as markup or
sending their controls to the terminal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.model import Reading
from gatewatch_dashboard.sources import RecordedSource, Source
from pytest_django.fixtures import Settings
from pytest_textual_snapshot import SVGImageExtension  # type: ignore[import-untyped]
from syrupy.assertion import SnapshotAssertion
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from tests.support.dashboard_support import ASGI_SOURCE, SIZE, WSGI_SOURCE, rows, screen_text, terminal_text
from tests.support.django_support import django_registry
from tests.support.django_untrusted_urls import FILE_LABEL, ITEM_LABEL
from tests.support.hostile_names import AWAITING, LONG, ROUTES, SERVER, SHOWN, hostile_views
from tests.support.live_support import BEARER, TOKEN

__all__ = ["django_registry"]


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio."""
    return "asyncio"


def column(app: TopApp, name: str, selector: str = "DataTable") -> set[str]:
    pane = app.query_one(f"#{app.query_one('TabbedContent').active}")  # type: ignore[attr-defined]
    table: DataTable[Any] = pane.query_one(selector, DataTable)
    [index] = [i for i, c in enumerate(table.ordered_columns) if c.label.plain == name]
    return {row[index] for row in rows(app, selector)}


def test_literal_is_the_string_as_written_with_its_controls_escaped() -> None:
    text = literal("[b]a\u202eb\x9b\x00\tc[/b]", "bold")
    assert text.plain == "[b]a\\u202eb\\x9b\\x00\\tc[/b]"
    assert (text.style, text.spans[0].style) == ("bold", "reverse")  # the escapes stand out
    assert literal("x" * 81).plain == "x" * 80 + "…(+1)"
    assert literal("x" * 81, limit=None).plain == "x" * 81


# -- the regression: a Django re_path route, served by Django's own handler ------------------


@pytest.mark.anyio
@pytest.mark.usefixtures("django_registry")
async def test_a_django_re_path_route_is_shown_as_written(settings: Settings) -> None:
    """Before: the Routes tab raised MarkupError on ``[/\\w.-]`` and dropped ``[a-z-]``."""
    settings.ROOT_URLCONF = "tests.support.django_untrusted_urls"
    client = Client(HTTP_HOST="127.0.0.1")
    assert [client.get(path).status_code for path in ("/items/a-b/", "/items/c/", "/files/a/b.txt")] == [
        200,
        200,
        200,
    ]
    settings.GATEWATCH = {**settings.GATEWATCH, "LIVE_TOKEN": TOKEN}
    answer = client.get("/_gatewatch/live.json", headers=BEARER)
    assert answer.status_code == 200
    app = TopApp([RecordedSource("django", [answer.content])], poll=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.poll_once()
        await pilot.press("4")
        # One reading: its counts since start (a window of the last seconds has no span yet,
        # and this process may have started long before it).
        await since_start(pilot)
        routes = {(row[2], row[3]) for row in rows(app)}
        assert routes == {(ITEM_LABEL, "2"), (FILE_LABEL, "1")}
        screen = screen_text(app)
    assert ITEM_LABEL in screen
    assert FILE_LABEL in screen


# -- hostile names on every tab ------------------------------------------------------------------

BROKEN = "broken[/]\x1b[2J"
ERROR = "[/] gone\x1b[2J\r\nforged"
ERROR_SHOWN = "broken[/]\\x1b[2J: RuntimeError: [/] gone\\x1b[2J\\r\\nforged; retrying"


class BrokenSource:
    """A source whose every read fails with a message (and a name) shaped like markup."""

    name = BROKEN
    kind = "live"

    async def read(self) -> Reading:
        raise RuntimeError(ERROR)

    async def close(self) -> None:
        return None


def hostile_app() -> TopApp:
    asgi, wsgi = hostile_views()
    sources: list[Source] = [
        RecordedSource(ASGI_SOURCE, [asgi]),
        RecordedSource(WSGI_SOURCE, [wsgi]),
        BrokenSource(),
    ]
    return TopApp(sources, poll=False)


async def started(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, TopApp)
    await app.poll_once()
    await pilot.pause()


async def since_start(pilot: Pilot[None]) -> None:
    """The window over everything each process counted: one reading is enough for rows."""
    app = pilot.app
    assert isinstance(app, TopApp)
    while app.window.seconds is not None:
        await pilot.press("w")
    await pilot.pause()


def shown(*originals: str) -> set[str]:
    return {SHOWN[ROUTES[route]] for route in originals}


@pytest.mark.anyio
async def test_hostile_names_are_shown_literally_in_every_tab() -> None:
    app = hostile_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        screens = {}
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
            screens[key] = screen = screen_text(app)
            # Nothing the app wrote reaches the terminal as a control.
            sent = terminal_text(app)
            assert not [c for c in sent if c != "\n" and (ord(c) < 32 or 0x7F <= ord(c) < 0xA0)], key
            if key != "1":
                assert ERROR_SHOWN in screen, key

            if key == "1":
                assert SHOWN[SERVER] in screen
            elif key == "2":
                assert column(app, "route") == shown("/slow", "/stream", "/blocking", "/ws/echo")
                awaiting = column(app, "awaiting now") - {""}
                assert awaiting and all(text.startswith(SHOWN[AWAITING] + "  ") for text in awaiting)
            elif key == "3":
                assert column(app, "route", "#ws-open") == shown("/ws/echo")
                assert column(app, "route", "#ws-closed") == shown("/ws/echo", "/ws/reject")
            elif key == "4":
                await since_start(pilot)
                routes = shown("/slow", "/blocking", "/fast", "/error", "/ws/echo")
                assert column(app, "route") == routes | {"<unmatched>"}
                assert SHOWN[LONG] in column(app, "route")
            # Blocking ("5"): its sites and stacks with these names are in
            # tests/dashboard/test_dashboard_blocking.py, on the figures of a window.
            elif key == "6":
                assert column(app, "servers") == {f"asgi: {SHOWN[SERVER]}", f"wsgi: {SHOWN[SERVER]}"}
        assert app.is_running
    # The overview's card of the broken source names it, and its error, as written.
    assert "broken[/]\\x1b[2J" in screens["1"]
    assert "RuntimeError: [/] gone\\x1b[2J\\r\\nforged; retrying" in screens["1"]


async def click_on(pilot: Pilot[None], word: str, line_has: str) -> None:
    """Click the first ``word`` on the first screen line holding ``line_has``."""
    lines = screen_text(pilot.app).splitlines()  # type: ignore[arg-type]
    y = next(y for y, line in enumerate(lines) if line_has in line)
    assert await pilot.click(offset=(lines[y].index(word, lines[y].index(line_has)) + 1, y))
    await pilot.pause()


@pytest.mark.anyio
async def test_a_route_shaped_like_an_action_does_nothing_when_clicked() -> None:
    app = hostile_app()
    action = ROUTES["/blocking"]
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("4")
        await since_start(pilot)
        await click_on(pilot, "quit", action)
        assert app.is_running
        # The filter, pasted from a route, is quoted in the status line: before, a live link.
        await pilot.press("slash")
        app.query_one("#filter", Input).value = action  # pasted
        await pilot.press("enter")
        await pilot.pause()
        assert app.route_filter == action
        assert column(app, "route") == {action}
        await click_on(pilot, "quit", f"filter: {action}")
        assert app.is_running
    assert app.return_code is None


def test_snapshot_of_hostile_names(snapshot: SnapshotAssertion) -> None:
    """In flight, Routes and Blocking with every hostile name, as the screen shows them (since
    start: the one reading's counts): each tab in turn on one run of the app, compared to its
    SVG (``test_snapshot_of_hostile_names[KEY].svg``) as ``snap_compare`` takes it."""
    app = hostile_app()
    screens: dict[str, str] = {}

    async def each_tab(pilot: Pilot[Any]) -> None:
        await started(pilot)
        # Focus as on a fresh start before each tab is shown (where it goes next depends on it).
        first = app.focused
        for key in ("2", "4", "5"):
            app.set_focus(first)
            await pilot.press(key)
            await since_start(pilot)
            # What textual._doc.take_svg_screenshot waits for before it exports.
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            screens[key] = app.export_screenshot(title=app.title, simplify=True)
        app.exit()

    app.run(headless=True, auto_pilot=each_tab, size=SIZE)
    svgs = snapshot.use_extension(SVGImageExtension)
    # Every tab compared (and written by --snapshot-update), then the ones that differ named.
    differ = [key for key, svg in screens.items() if svgs(name=key) != svg]
    assert not differ, f"these tabs differ from their snapshots: {differ}"


def test_the_hostile_views_hold_every_hostile_name() -> None:
    """The swap reached every kind of string the tests look for."""
    text = b"".join(hostile_views()).decode()
    for name in (*ROUTES.values(), SERVER, AWAITING):
        assert json.dumps(name)[1:-1] in text
