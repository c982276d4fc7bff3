"""The Blocking tab: loop blocks grouped by site over the window, the stack of the highlighted
site (the application's frames first, the whole stack on ``f``), on figures built by hand
(what gatewatch_dashboard.window computes from the readings), and its snapshots."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.block_sites import parse_frame, short_site, site_index, sorted_sites
from gatewatch_dashboard.figures import DEFAULT_WINDOW, WINDOWS, SourceFigures, Span
from gatewatch_dashboard.model import InterfaceStats
from gatewatch_dashboard.widgets._fit import fit
from gatewatch_dashboard.widgets.blocking import BlockingView
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from tests.support.block_figures import (
    APP_FILE,
    BLOCKING_SITE,
    BLOCKING_STACK,
    LIVE,
    OUTER,
    PAGE,
    SLOW_SITE,
    SLOW_STACK,
    busy_figures,
    hostile_figures,
    live,
    site,
)
from tests.support.dashboard_support import rows, screen_text, terminal_text
from tests.support.hostile_names import FRAME, LONG, ROUTES, SHOWN

WIDE = (120, 40)
NARROW = (100, 30)


async def blocking_tab(pilot: Pilot[None], figures: tuple[SourceFigures, ...]) -> TopApp:
    app = pilot.app
    assert isinstance(app, TopApp)
    app.figures = figures
    await pilot.press("5")
    await pilot.pause()
    return app


def shown_rows(app: TopApp) -> list[list[str]]:
    return rows(app, "#site-table")


# -- rows -------------------------------------------------------------------------------------


def test_sites_sorted_by_time_held_and_filtered_by_route() -> None:
    listed = sorted_sites(busy_figures())
    assert [(row.route, row.total) for row in listed] == [
        ("/blocking", 9.282),
        ("/slow", 1.5),
        ("/slow", 0.36),
        ("/slow", 0.05),
    ]
    assert [row.route for row in sorted_sites(busy_figures(), "BLOCK")] == ["/blocking"]


def test_frames_and_sites_are_read_as_the_library_writes_them() -> None:
    frame = parse_frame(r"C:\app\views.py:12 in index: time.sleep(1)  # a: b")
    assert (frame.file, frame.line, frame.function, frame.code) == (
        r"C:\app\views.py",
        "12",
        "index",
        "time.sleep(1)  # a: b",
    )
    assert parse_frame("not a frame").where == "not a frame"
    assert short_site(BLOCKING_SITE) == "examples/starlette_app.py:41 in blocking"
    assert short_site(BLOCKING_SITE, parts=1) == "starlette_app.py:41 in blocking"
    # The site is the application's innermost frame, not what it called (json's encoder here).
    assert site_index(SLOW_STACK, SLOW_SITE) == 0
    assert site_index(BLOCKING_STACK, "") == 1
    assert site_index((), BLOCKING_SITE) is None


@pytest.mark.parametrize("width", [1, 5, 12, 40])
def test_a_cut_name_fits_its_column_and_says_how_much_is_left_out(width: int) -> None:
    for value in (LONG, "/ws\x1b[2J\x1b[H" * 10, "/路由/" * 30):
        text = fit(value, width)
        # Never narrower than the marker and one character.
        assert text.cell_len <= max(width, len("x…(+999)")), (value, width)
        kept, marker, left_out = text.plain.rpartition("…(+")
        assert marker and kept and left_out.endswith(")")
        if value == LONG:
            assert len(kept) + int(left_out[:-1]) == len(LONG)
    assert fit("/short", 40).plain == "/short"
    assert fit("/ws\x1b", 40).plain == "/ws\\x1b"


# -- the tab ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("size", [WIDE, NARROW])
async def test_one_row_per_site_the_most_time_first_with_whole_numbers(size: tuple[int, int]) -> None:
    app = TopApp([], poll=False)
    async with app.run_test(size=size) as pilot:
        await blocking_tab(pilot, busy_figures())
        listed = shown_rows(app)
        assert [row[0] for row in listed] == ["/blocking", "/slow", "/slow", "/slow"]
        assert [row[2:6] for row in listed] == [
            ["91", "9.28 s", "102.3 ms", "0.4 s ago"],
            ["15", "1.50 s", "-", "-"],
            ["3", "360.0 ms", "≥150.0 ms", "12 s ago"],
            ["1", "50.0 ms", "50.0 ms", "4 min ago"],
        ]
        assert "no stack" in listed[1][1]
        text = screen_text(app)
        # Every row whole on one line: no column pushed off or cut short by the table.
        for row in listed:
            assert re.search(r"\s+".join(map(re.escape, row)), text), row
        assert "last 60 s: 110 loop blocks held the loop 11.2 s at 4 sites" in text
        assert "loop lag p99 100.0 ms" in text
        if size == WIDE:
            assert listed[0][1] == "examples/starlette_app.py:41 in blocking"
            assert listed[1][1] == "(no stacks: read the live view)"
            assert listed[0][6] == LIVE


@pytest.mark.anyio
async def test_the_stack_opens_on_the_application_and_f_shows_all_of_it() -> None:
    app = TopApp([], poll=False)
    async with app.run_test(size=WIDE) as pilot:
        await blocking_tab(pilot, busy_figures())
        text = screen_text(app)
        assert f"/blocking  at  {BLOCKING_SITE}" in text
        assert "91 blocks, 9.28 s held in all, worst 102.3 ms" in text
        assert f"  {APP_FILE}:39 in blocking" in text
        assert f"▶ {APP_FILE}:41 in blocking" in text  # the site, marked
        assert "time.sleep(seconds)" in text
        assert "site-packages" not in text  # nothing of the server's or the framework's frames
        assert "f Full stack" in text  # in the footer

        await pilot.press("f")
        await pilot.pause()
        view = app.query_one(BlockingView)
        assert view.full_stack
        shown = view.query_one("#stack").render()
        whole = str(shown).partition("Whole stack, outermost first")[2]
        positions = [whole.index(parse_frame(frame).where) for frame in OUTER + BLOCKING_STACK]
        assert positions == sorted(positions)  # outermost first, the application's last
        # Scrolled to the site, at the end of the whole stack.
        assert f"▶ {APP_FILE}:41 in blocking" in screen_text(app)

        await pilot.press("f")
        await pilot.pause()
        assert not view.full_stack
        assert "starlette/routing.py" not in str(view.query_one("#stack").render())


@pytest.mark.anyio
async def test_the_route_filter_keeps_to_its_routes_and_f_still_works_after_it() -> None:
    app = TopApp([], poll=False)
    async with app.run_test(size=WIDE) as pilot:
        await blocking_tab(pilot, busy_figures())
        await pilot.press("slash", *"/slowf", "backspace", "enter")  # "f" typed in the field is not the key
        await pilot.pause()
        view = app.query_one(BlockingView)
        assert app.route_filter == "/slow" and not view.full_stack
        assert [row[0] for row in shown_rows(app)] == ["/slow", "/slow", "/slow"]
        assert "last 60 s: 19 loop blocks held the loop 1.91 s at 3 sites" in screen_text(app)
        await pilot.press("f")
        await pilot.pause()
        assert view.full_stack
        await pilot.press("slash", *"/nowhere", "enter")
        await pilot.pause()
        assert shown_rows(app) == []
        assert "No loop blocks in last 60 s on a route containing '/nowhere'." in screen_text(app)


@pytest.mark.anyio
async def test_its_keys_follow_the_tab_and_never_bring_it_back() -> None:
    app = TopApp([], poll=False)
    async with app.run_test(size=WIDE) as pilot:
        await blocking_tab(pilot, busy_figures())
        tabs = app.query_one(TabbedContent)
        assert app.focused is app.query_one("#site-table")
        await pilot.press("4")  # away, with the focus on the site table
        await pilot.pause()
        assert tabs.active == "routes"
        await pilot.press("slash", *"slow", "enter")  # a filter closed on another tab
        await pilot.pause()
        assert tabs.active == "routes" and app.route_filter == "slow"
        await pilot.press("escape", "5", "up", "up", "up", "f")  # /blocking: the longest stack
        await pilot.pause()
        scroll = app.query_one("#stack-scroll", VerticalScroll)
        assert tabs.active == "blocking" and scroll.max_scroll_y > 0
        assert scroll.scroll_y == scroll.max_scroll_y  # on the site, at the end of the whole stack
        await pilot.press("shift+up")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y - 3


@pytest.mark.anyio
async def test_the_highlighted_site_stays_highlighted_as_the_figures_change() -> None:
    app = TopApp([], poll=False)
    async with app.run_test(size=WIDE) as pilot:
        await blocking_tab(pilot, busy_figures())
        await pilot.press("down", "down")  # /slow at line 60
        await pilot.pause()
        view = app.query_one(BlockingView)
        assert (selected := view.selected()) is not None and selected.site == SLOW_SITE
        # The next poll: /slow at line 60 now holds the most time.
        app.figures = (
            live(site("/slow", SLOW_SITE, 300, 30.0, stack=SLOW_STACK), *busy_figures()[0].sites[1:]),
        )
        await pilot.pause()
        assert shown_rows(app)[0][1].endswith(":60 in slow")
        assert (selected := view.selected()) is not None and selected.site == SLOW_SITE
        assert "300 blocks, 30.0 s held in all" in screen_text(app)
        assert app.query_one("#site-table").cursor_row == 0  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_source_without_stacks_shows_its_routes_and_says_where_stacks_are() -> None:
    app = TopApp([], poll=False)
    async with app.run_test(size=WIDE) as pilot:
        await blocking_tab(pilot, (busy_figures()[1],))
        # One source: no source column; the panel names it.
        assert shown_rows(app) == [["/slow", "(no stacks: read the live view)", "15", "1.50 s", "-", "-"]]
        text = screen_text(app)
        assert "/slow  at  (no stacks: read the live view)" in text
        assert f"source {PAGE}" in text


@pytest.mark.anyio
async def test_no_blocks_says_so_over_the_span() -> None:
    app = TopApp([], poll=False)
    async with app.run_test(size=WIDE) as pilot:
        await blocking_tab(pilot, (live(span=Span(WINDOWS[0], 4.0, complete=False)),))
        assert shown_rows(app) == []
        text = screen_text(app)
        assert "last 10 s (4 s so far): 0 loop blocks held the loop 0.0 ms at 0 sites" in text
        assert "No loop blocks in last 10 s (4 s so far)" in text


@pytest.mark.anyio
async def test_the_span_said_is_the_one_of_the_sources_with_a_loop() -> None:
    wsgi = SourceFigures(
        "127.0.0.1:8002",
        "live",
        Span(DEFAULT_WINDOW, 5.0, complete=False),
        interfaces=(InterfaceStats("wsgi", "gunicorn", 2),),
    )
    app = TopApp([], poll=False)
    async with app.run_test(size=WIDE) as pilot:
        await blocking_tab(pilot, (busy_figures()[0], wsgi))
        text = screen_text(app)
        assert "last 60 s: 95 loop blocks held the loop 9.69 s at 3 sites" in text
        assert "5 s so far" not in text


@pytest.mark.anyio
@pytest.mark.parametrize("size", [WIDE, NARROW])
async def test_app_strings_are_shown_as_written_cut_only_with_a_marker(size: tuple[int, int]) -> None:
    hostile_site = f"/srv/[red]app[/]/{FRAME}views.py:7 in [@click=app.quit]q[/]"
    figures = (
        live(
            *(
                site(
                    route,
                    f"{APP_FILE}:{n} in handler",
                    1,
                    0.1 * (n + 1),
                    stack=(f"{APP_FILE}:{n} in handler{FRAME}",),
                )
                for n, route in enumerate(ROUTES.values())
            ),
            site("[@click=app.quit]quit[/]", hostile_site, 1, 9.0, stack=(hostile_site + ": [b]x[/b]",)),
        ),
    )
    app = TopApp([], poll=False)
    async with app.run_test(size=size) as pilot:
        await blocking_tab(pilot, figures)
        listed = shown_rows(app)
        routes = [row[0] for row in listed]
        for route in ROUTES.values():
            whole = LONG if route == LONG else SHOWN[route]
            if whole in routes:
                continue
            # Cut to its column, saying how many characters are left out.
            kept, left_out = next(
                shown.split("…(+")
                for shown in routes
                if "…(+" in shown and whole.startswith(shown.split("…(+")[0])
            )
            if route == LONG:
                assert len(kept) + int(left_out.rstrip(")")) == len(LONG)
        if size == WIDE:
            assert {"[bold]x[/]", "/ws\\r\\nGET /forged 200"} <= set(routes)
        text = screen_text(app)
        # The highlighted site (the most time held), whole in the panel, markup and controls as written.
        assert (
            "[@click=app.quit]quit[/]  at  /srv/[red]app[/]/\\x1b[2J[/]views.py:7 in [@click=app.quit]q[/]"
            in text
        )
        assert "[b]x[/b]" in text
        assert "\x1b" not in terminal_text(app)
        await pilot.press("down")
        await pilot.pause()
        assert app.is_running  # no [@click=app.quit] read as an action
        # Every row whole on one line of the screen: nothing pushed off by a long name.
        for row in listed:
            assert re.search(r"\s+".join(map(re.escape, row)), text), row


# -- snapshots --------------------------------------------------------------------------------


SNAPSHOTS: dict[str, tuple[Callable[[], tuple[SourceFigures, ...]], tuple[int, int]]] = {
    "empty": (lambda: (live(),), WIDE),
    "busy": (busy_figures, WIDE),
    "hostile_names": (hostile_figures, WIDE),
    "narrow": (busy_figures, NARROW),
}


@pytest.mark.parametrize("case", list(SNAPSHOTS))
def test_snapshot_of_the_blocking_tab(case: str, snap_compare: Callable[..., bool]) -> None:
    figures, size = SNAPSHOTS[case]

    async def before(pilot: Pilot[None]) -> None:
        await blocking_tab(pilot, figures())

    assert snap_compare(TopApp([], poll=False), run_before=before, terminal_size=size)
