"""``gatewatch top``'s Overview: per source and interface, numbers then charts with axes, units,
the window and a legend, filling the terminal and still whole at 100 x 30; its snapshots.

The figures are built by hand (tests/support/overview_figures.py) and set on an app that does
not poll, so what is drawn depends on nothing but them and the terminal's size."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pytest
from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.figures import DEFAULT_WINDOW, WINDOWS, SourceFigures, Span
from gatewatch_dashboard.model import Reading
from gatewatch_dashboard.sources import RecordedSource, Source
from gatewatch_dashboard.widgets._numbers import NumberRows
from gatewatch_dashboard.widgets.interface_card import InterfaceCard, durations
from gatewatch_dashboard.widgets.overview import cards_of
from gatewatch_dashboard.widgets.time_chart import (
    MIN_HEIGHT,
    TimeChart,
)
from rich.console import Console
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Static

from tests.support.dashboard_support import screen_text, terminal_text
from tests.support.overview_figures import (
    ASGI_SOURCE,
    HOSTILE,
    WSGI_SOURCE,
    asgi_figures,
    busy,
    hostile,
    reading,
    wsgi_figures,
)

WIDE = (120, 40)
NARROW = (100, 30)
Figures = tuple[tuple[Reading, ...], tuple[SourceFigures, ...]]


def app_for(names: Sequence[str]) -> TopApp:
    """The dashboard on sources it never reads (``poll=False``): the tests set what it shows."""
    sources: list[Source] = [RecordedSource(name, []) for name in names]
    return TopApp(sources, poll=False)


async def show(pilot: Pilot[None], shown: Figures) -> None:
    app = pilot.app
    assert isinstance(app, TopApp)
    app.readings, app.figures = shown
    await pilot.pause()
    await pilot.pause()  # the cards arrange themselves once they have their size


def charts(app: TopApp) -> list[TimeChart]:
    return list(app.query(TimeChart).filter(".chart"))


def drawn(chart: TimeChart) -> str:
    """The chart as plotext draws it at the chart's size."""
    rendered = chart.render()
    return getattr(rendered, "plain", str(rendered))


def overlapping(regions: Sequence[Region]) -> list[tuple[Region, Region]]:
    return [(a, b) for i, a in enumerate(regions) for b in regions[i + 1 :] if a.overlaps(b)]


# -- the charts ------------------------------------------------------------------------------


LEGENDS = {
    "asgi": {
        "requests/s by status · last 60 s": ("2xx", "4xx", "5xx"),
        "latency, ms · last 60 s": ("p50", "p95", "p99"),
        "loop lag p99, ms · last 60 s": ("lag p99",),
    },
    "wsgi": {
        "requests/s by status · last 60 s": ("2xx", "3xx"),
        "latency, ms · last 60 s": ("p50", "p95", "p99"),
        "workers busy / capacity · last 60 s": ("busy", "capacity 2"),
    },
}


@pytest.mark.anyio
@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["120x40", "100x30"])
async def test_each_chart_says_its_unit_and_window_and_has_axes_and_a_legend(size: tuple[int, int]) -> None:
    app = app_for([ASGI_SOURCE, WSGI_SOURCE])
    async with app.run_test(size=size) as pilot:
        await show(pilot, busy())
        cards = {card.key: card for card in app.query(InterfaceCard)}
        assert set(cards) == {"0-asgi", "1-wsgi"}
        for key, card in cards.items():
            expected = LEGENDS[key.split("-")[1]]
            drawn_charts = {chart.data.title: drawn(chart) for chart in card.query(TimeChart)}
            assert set(drawn_charts) == set(expected)
            for title, text in drawn_charts.items():
                assert title in text  # drawn whole, not only set
                assert "60 s ago" in text and "now" in text  # the x axis: seconds ago
                assert "┤" in text  # y ticks
                assert text.splitlines()[-2].lstrip().startswith("└")  # the x axis above its labels
                legend = text.splitlines()[2 : 2 + len(expected[title])]
                for label, line in zip(expected[title], legend, strict=True):
                    assert f"⢕⢕ {label}" in line  # one legend line a series, marker then label


@pytest.mark.anyio
async def test_a_narrow_chart_keeps_its_unit_and_window_in_a_shorter_title() -> None:
    """plotext leaves out a title wider than its canvas: "requests/s by status · last 60 s (30 s
    so far)" does not fit a 100-column terminal's half, "requests/s · last 60 s (30 s so far)" does."""
    partial = Span(DEFAULT_WINDOW, 30.0, False)
    figures = (asgi_figures(span=partial), wsgi_figures(span=partial))
    app = app_for([ASGI_SOURCE, WSGI_SOURCE])
    async with app.run_test(size=NARROW) as pilot:
        await show(pilot, (tuple(reading(f) for f in figures), figures))
        titles = []
        for chart in charts(app):
            text = drawn(chart)
            title = next(line.strip() for line in text.splitlines() if "last 60 s" in line)
            assert title in (chart.data.title, chart.data.short_title)
            titles.append(title.split(" · ")[0])
        assert titles == [
            "requests/s",
            "latency, ms",
            "lag p99, ms",
            "requests/s",
            "latency, ms",
            "busy / capacity",
        ]


@pytest.mark.anyio
async def test_the_cards_fill_the_terminal_at_120x40() -> None:
    """A newcomer found two thirds of the screen empty: the cards now reach the footer and the
    right edge, and the charts take what the numbers leave."""
    app = app_for([ASGI_SOURCE, WSGI_SOURCE])
    async with app.run_test(size=WIDE) as pilot:
        await show(pilot, busy())
        scroll = app.query_one("#overview-scroll", VerticalScroll)
        cards = list(app.query(InterfaceCard))
        assert len(cards) == 2 and not overlapping([card.region for card in cards])
        assert {card.region.y for card in cards} == {scroll.region.y}  # side by side
        assert sum(card.region.width for card in cards) >= scroll.region.width - 2
        assert all(card.region.bottom >= scroll.region.bottom - 1 for card in cards)
        for chart in charts(app):
            assert chart.region.height >= MIN_HEIGHT and chart.region.width >= 40
    # One source alone, from the start: its three charts side by side under its numbers, the
    # card down to the footer (the waiting note's lines given back).
    for size in (WIDE, NARROW):
        app = app_for([ASGI_SOURCE])
        async with app.run_test(size=size) as pilot:
            await show(pilot, ((reading(asgi_figures()),), (asgi_figures(),)))
            scroll = app.query_one("#overview-scroll", VerticalScroll)
            [card] = app.query(InterfaceCard)
            assert card.region == scroll.region, size
            placed = [chart.region for chart in charts(app)]
            assert not overlapping(placed)
            if size == WIDE:
                assert len({region.y for region in placed}) == 1
                assert all(region.height >= 2 * MIN_HEIGHT for region in placed)


@pytest.mark.anyio
async def test_numbers_first_and_nothing_cut_or_overlapping_at_100x30() -> None:
    app = app_for([ASGI_SOURCE, WSGI_SOURCE])
    async with app.run_test(size=NARROW) as pilot:
        await show(pilot, busy())
        scroll = app.query_one("#overview-scroll", VerticalScroll)
        text = screen_text(app)
        # Every number of both cards is on the first screen, each row on one line.
        for line in ("p50 / p95 / p99        2.0 / 100.0 / 100.0 ms", "100.0 / 300.0 / 450.0 ms"):
            assert line in text
        assert re.search(r"in flight at arrival \(mean\) +9\.4 ", text)
        assert "queue time (mean)" in text and "processes" in text
        for card in app.query(InterfaceCard):
            numbers = card.query_one(".card-numbers", Static)
            assert scroll.region.contains_region(numbers.region)
            content = card.content_region
            for chart in card.query(TimeChart):
                # Within its card's width (never cut at the side), tall enough to read.
                assert content.x <= chart.region.x and chart.region.right <= content.right
                assert chart.region.height >= MIN_HEIGHT
        everything = [card.region for card in app.query(InterfaceCard)]
        assert not overlapping(everything)
        assert not overlapping([chart.region for chart in charts(app)])
        # What does not fit is scrolled to, not cut: the last chart reaches the screen.
        last = charts(app)[-1]
        scroll.scroll_to_widget(last, animate=False)
        await pilot.pause()
        assert scroll.region.contains_region(last.region)
        assert "workers busy / capacity · last 60 s" in screen_text(app)


@pytest.mark.anyio
async def test_several_sources_side_by_side_then_in_rows() -> None:
    shown: Figures = (
        tuple(reading(f) for f in (asgi_figures("a:1"), asgi_figures("b:2"), wsgi_figures("c:3"))),
        (asgi_figures("a:1"), asgi_figures("b:2"), wsgi_figures("c:3")),
    )
    app = app_for(["a:1", "b:2", "c:3"])
    async with app.run_test(size=(160, 44)) as pilot:
        await show(pilot, shown)
        cards = list(app.query(InterfaceCard))
        assert [card.key for card in cards] == ["0-asgi", "1-asgi", "2-wsgi"]
        assert len({card.region.y for card in cards}) == 1  # three columns
        assert not overlapping([chart.region for chart in charts(app)])
        await pilot.resize_terminal(*NARROW)
        await pilot.pause()
        await pilot.pause()
        regions = [card.region for card in cards]
        assert len({region.y for region in regions}) == 2 and not overlapping(regions)  # 2 + 1


@pytest.mark.anyio
async def test_a_failing_source_shows_its_error_and_recovers_when_it_answers() -> None:
    app = app_for([ASGI_SOURCE])
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert "Waiting for the first answer of every source" in screen_text(app)
        failed = SourceFigures(ASGI_SOURCE, "live", Span(DEFAULT_WINDOW, 0.0, False))
        await show(pilot, ((Reading(ASGI_SOURCE, "live", error="ConnectError: refused"),), (failed,)))
        [card] = app.query(InterfaceCard)
        assert card.has_class("failing")
        text = screen_text(app)
        assert "ConnectError: refused; retrying" in text and "no data yet" in text
        assert "Waiting for the first answer" not in text
        assert not card.query_one(".card-charts").display
        # It answers again: the same place shows its figures.
        await show(pilot, ((reading(asgi_figures()),), (asgi_figures(),)))
        [card] = app.query(InterfaceCard)
        assert not card.has_class("failing") and card.query_one(".card-charts").display
        assert "live · poll 7 · last 60 s" in screen_text(app)
        # It stops answering again: its last figures stay, under the error.
        broken = reading(asgi_figures(), error="ReadTimeout: ; retrying")
        await show(pilot, ((broken,), (asgi_figures(),)))
        assert "ReadTimeout: ; retrying (its last answer below)" in screen_text(app)
        assert "2.0 / 100.0 / 100.0 ms" in screen_text(app)


@pytest.mark.anyio
async def test_hostile_names_are_shown_as_data() -> None:
    app = app_for(list(HOSTILE[:3]))
    async with app.run_test(size=(150, 40)) as pilot:
        await show(pilot, hostile())
        assert app.is_running  # [@click=app.quit] was not an action
        text = screen_text(app)
        for shown in ("[bold red]x[/]", "[@click=app.quit]quit", "evil\\x1b[2Jname"):
            assert shown in text
        assert "ConnectError: [b]refused[/b]\\x1b[31m; retrying" in text
        assert "last 10 s (4 s so far)" in text  # each source says its own span
        assert "\x1b" not in terminal_text(app)


# -- the pieces ----------------------------------------------------------------------------


def test_durations_write_a_shared_unit_once() -> None:
    assert durations(0.002, 0.1, 0.1) == "2.0 / 100.0 / 100.0 ms"
    assert durations(0.5, 1.5, None) == "500.0 ms / 1.50 s / -"
    assert durations(None, None) == "- / -"


def test_numbers_go_in_two_columns_when_wide_and_never_cut_when_narrow() -> None:
    rows = [("p50 / p95 / p99", "2.0 / 100.0 / 100.0 ms"), ("in flight", "3"), ("processes", "1")]
    console = Console(width=100, color_system=None)
    wide = [line for line in console.render_lines(NumberRows(rows), console.options.update_width(90))]
    assert len(wide) == 2
    narrow = console.render_lines(NumberRows(rows), console.options.update_width(24))
    texts = ["".join(segment.text for segment in line) for line in narrow]
    assert texts[0].rstrip() == "p50 / p95 / p99" and texts[1].strip() == "2.0 / 100.0 / 100.0 ms"


def test_cards_match_figures_to_readings_by_source_name() -> None:
    readings = (reading(wsgi_figures()), Reading("down:1", "live", error="refused"))
    figures = (asgi_figures(), wsgi_figures())  # in another order, and one with no reading
    cards = list(cards_of(readings, figures))
    assert [(card.key, card.source, card.error) for card in cards] == [
        ("0-wsgi", WSGI_SOURCE, None),
        ("1-none", "down:1", "refused"),
        ("2-asgi", ASGI_SOURCE, None),
    ]
    assert cards[0].timeline is figures[1].timelines["wsgi"] and cards[0].span == figures[1].span


# -- snapshots -------------------------------------------------------------------------------


def snapshot(names: Sequence[str], shown: Figures | None) -> tuple[TopApp, Callable[[Pilot[None]], object]]:
    async def before(pilot: Pilot[None]) -> None:
        if shown is not None:
            await show(pilot, shown)
        await pilot.pause()

    return app_for(names), before


SNAPSHOTS: dict[str, tuple[Sequence[str], Callable[[], Figures | None], tuple[int, int]]] = {
    "empty": ([ASGI_SOURCE], lambda: None, WIDE),
    "waiting": (
        [ASGI_SOURCE],
        lambda: (
            (Reading(ASGI_SOURCE, "live", error="waiting for the first answer"),),
            (SourceFigures(ASGI_SOURCE, "live", Span(WINDOWS[1], 0.0, False)),),
        ),
        WIDE,
    ),
    "busy": ([ASGI_SOURCE, WSGI_SOURCE], busy, WIDE),
    "busy_100x30": ([ASGI_SOURCE, WSGI_SOURCE], busy, NARROW),
    "hostile": (list(HOSTILE[:3]), hostile, (150, 40)),
}


@pytest.mark.parametrize("case", list(SNAPSHOTS))
def test_snapshot_of_the_overview(case: str, snap_compare: Callable[..., bool]) -> None:
    names, shown, size = SNAPSHOTS[case]
    app, before = snapshot(names, shown())
    assert snap_compare(app, run_before=before, terminal_size=size)
