"""The Overview's chart widget (plotext through textual-plotext): app strings as text, the odd
values a source can give, a legend that fits, round ticks and gaps; the Overview's layout and
snapshots are in test_dashboard_overview.py."""

from __future__ import annotations

import math

import pytest
from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.widgets.time_chart import (
    MIN_HEIGHT,
    ChartData,
    Series,
    TimeChart,
    nice_ticks,
    segments,
    tick_label,
    time_ticks,
)

from tests.support.dashboard_support import terminal_text

WIDE = (120, 40)


def drawn(chart: TimeChart) -> str:
    """The chart as plotext draws it at the chart's size."""
    rendered = chart.render()
    return getattr(rendered, "plain", str(rendered))


@pytest.mark.anyio
async def test_a_chart_draws_app_strings_as_text_never_as_controls_or_markup() -> None:
    app = TopApp([], poll=False)  # a chart on its own, no source
    async with app.run_test(size=WIDE) as pilot:
        chart = TimeChart()
        await app.screen.mount(chart)
        chart.styles.width, chart.styles.height = 60, 10
        chart.show(
            ChartData(
                "[b]title[/b]\x1b[2J",
                (2.0, 1.0, 0.0),
                (Series("\x1b[31m[red]x", (1.0, 2.0, 3.0), "red"),),
                window=2.0,
            )
        )
        await pilot.pause()
        text = drawn(chart)
        assert "[b]title[/b]\\x1b[2J" in text and "\\x1b[31m[red]x" in text
        assert "\x1b" not in terminal_text(app)


@pytest.mark.anyio
async def test_a_chart_with_one_point_none_or_odd_values_still_draws() -> None:
    """The first poll gives one point, an idle interface none, a broken source NaN or inf:
    plotext fails on some of these (a legend entry without a point on the canvas, inf)."""
    cases = [
        ChartData("one point now", (0.0,), (Series("a", (1.0,), "red"),), 60.0),
        ChartData("one at the edge", (60.0,), (Series("a", (1.0,), "red"),), 60.0),
        ChartData("outside the window", (90.0, 70.0), (Series("a", (1.0, 2.0), "red"),), 60.0),
        ChartData("idle", (1.0, 0.0), (Series("a", (None, None), "red"),), 60.0),
        ChartData("no point", (), (), None),
        ChartData("odd", (2.0, 1.0, 0.0), (Series("a", (math.nan, math.inf, 5e9), "red"),), 10.0),
    ]
    app = TopApp([], poll=False)  # a chart on its own, no source
    async with app.run_test(size=WIDE) as pilot:
        for data in cases:
            chart = TimeChart()
            await app.screen.mount(chart)
            chart.styles.width, chart.styles.height = 40, MIN_HEIGHT
            chart.show(data)
            await pilot.pause()
            text = drawn(chart)
            assert data.title in text and "now" in text  # its axes even without a point
            if data.title in ("idle", "no point", "outside the window"):
                assert "no value in the window" in text
        assert app.is_running


@pytest.mark.anyio
async def test_the_legend_names_the_classes_seen_and_fits_a_short_chart() -> None:
    """plotext leaves the whole legend out when it has more entries than rows: a 3xx, 5xx and
    "other" that stayed at 0 are not drawn, and past the rows only the highest keep a label."""
    ago = (2.0, 1.0, 0.0)
    idle = ChartData(
        "idle classes",
        ago,
        tuple(
            Series(name, (5.0, 6.0, 7.0) if name in "2xx 4xx" else (0.0, 0.0, 0.0), "red")
            for name in ("2xx", "3xx", "4xx", "5xx", "other")
        ),
        10.0,
        hide_idle=True,
    )
    crowded = ChartData(
        "crowded", ago, tuple(Series(f"s{n}", (n, n, n), "red") for n in (1.0, 2.0, 3.0, 4.0, 5.0)), 10.0
    )
    app = TopApp([], poll=False)  # a chart on its own, no source
    async with app.run_test(size=WIDE) as pilot:
        charts_drawn = []
        for data in (idle, crowded):
            chart = TimeChart()
            await app.screen.mount(chart)
            chart.styles.width, chart.styles.height = 40, MIN_HEIGHT
            chart.show(data)
            charts_drawn.append(chart)
        await pilot.pause()
        idle_text, crowded_text = (drawn(chart) for chart in charts_drawn)
        assert "⢕⢕ 2xx" in idle_text and "⢕⢕ 4xx" in idle_text
        assert not any(name in idle_text for name in ("3xx", "5xx", "other"))
        labels = [line for line in crowded_text.splitlines() if "⢕⢕" in line]
        assert sorted(line.split("⢕⢕ ")[1].split()[0] for line in labels) == ["s3.0", "s4.0", "s5.0"]


# -- the pieces ----------------------------------------------------------------------------


def test_axes_ticks_are_round_and_cover_the_values() -> None:
    assert nice_ticks(68.0, 4) == [0, 20, 40, 60, 80]
    assert nice_ticks(1.0, 2) == [0, 0.5, 1.0]
    assert nice_ticks(0.0, 3)[-1] > 0
    assert time_ticks(60.0, columns=56) == [60, 45, 30, 15, 0]
    assert time_ticks(60.0, columns=30) == [60, 30, 0]
    assert time_ticks(300.0, columns=60)[0] == 300 and time_ticks(300.0, columns=60)[-1] == 0


def test_a_missing_value_is_a_gap_and_points_outside_the_window_are_left_out() -> None:
    runs = segments((12.0, 9.0, 6.0, 3.0, 0.0), (1.0, 2.0, None, 4.0, 5.0), span=10.0)
    assert runs == [([-9.0], [2.0]), ([-3.0, 0.0], [4.0, 5.0])]
    assert segments((2.0, 1.0, 0.0), (math.inf, math.nan, 1.0), span=10.0) == [([0.0], [1.0])]
    assert tick_label(5e9) == "5G" and tick_label(2500.0) == "2.5k" and tick_label(0.5) == "0.5"
