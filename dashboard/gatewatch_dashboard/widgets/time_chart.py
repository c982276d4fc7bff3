"""A chart of a few series over the window: seconds ago on the x axis, a unit in the title,
a legend; drawn by plotext (textual-plotext) at whatever size the layout gives it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from gatewatch_dashboard._literal import plain

# Rows a chart needs: its title, the frame's two lines, the x axis' labels and three rows of canvas
# (twelve braille dots high) for the lines and the legend.
MIN_HEIGHT = 7
# Columns a chart needs for the y axis' labels, a legend and a minute of points readable.
MIN_WIDTH = 36

Runs = list[tuple[list[float], list[float]]]  # runs of points (x, y) with no gap


@dataclass(frozen=True)
class Series:
    """One line: its label in the legend, a value per point of the timeline (None: no value
    then, a gap), and its colour (a plotext colour name)."""

    label: str
    values: tuple[float | None, ...]
    color: str


@dataclass(frozen=True)
class ChartData:
    title: str  # what, in which unit, over which window: "requests/s by status · last 60 s"
    ago: tuple[float, ...] = ()  # seconds before the last reading, one per point, oldest first
    series: tuple[Series, ...] = ()
    window: float | None = None  # the x axis spans this many seconds when known
    floor: float = 1.0  # the y axis reaches at least this high (an idle chart stays readable)
    hide_idle: bool = False  # leave out the series that stayed at 0 (see shown())
    short_title: str = ""  # the title for a narrow chart, with the unit and the window still


class TimeChart(PlotextPlot):
    """One chart, redrawn at its size on every render."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data = ChartData("")

    def show(self, data: ChartData) -> None:
        if data != self.data:
            self.data = data
            self.refresh()

    def render(self) -> RenderResult:
        self._draw(self.size.width, self.size.height)
        return super().render()

    def _draw(self, width: int, height: int) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        data = self.data
        # Strings a chart shows go through plain(): plotext's output is read as ANSI, so an
        # escape character in a title would become a terminal control; markup is never read.
        span = data.window or max(data.ago, default=0.0) or 1.0
        plt.xlim(-span, 0)
        values = (v for s in data.series for v in s.values if v is not None and math.isfinite(v))
        top = max(data.floor, max(values, default=0.0))
        # One label a row at most: the canvas has height - 4 rows (title, frame, x labels).
        ticks = nice_ticks(top, rows=max(1, min(4, height - 5)))
        labels = [tick_label(t) for t in ticks]
        plt.ylim(0, ticks[-1])
        plt.yticks(ticks, labels)
        # plotext centres the title on the canvas and leaves it out when it overflows: the
        # room is the width less the y labels and the frame.
        room = width - max(map(len, labels)) - 3
        title = data.title if len(data.title) <= room or not data.short_title else data.short_title
        plt.title(fit(plain(title, limit=None), room))
        x_ticks = time_ticks(span, columns=width)
        plt.xticks([-t for t in x_ticks], [ago_label(t, first=t == x_ticks[0]) for t in x_ticks])
        drawn = shown(data, span)
        if not drawn:
            # plotext draws no axis labels without a point: an invisible one keeps the axes,
            # and the canvas says why it is empty.
            plt.plot([-span / 2], [0.0], marker=" ")
            plt.text("no value in the window", x=-span / 2, y=ticks[-1] / 2, alignment="center")
        # plotext leaves the whole legend out when it has more entries than the canvas has
        # rows: the series that peak highest keep theirs.
        peaks = sorted(drawn, key=lambda pair: -max(y for _, ys in pair[1] for y in ys))
        labelled = {id(series) for series, _ in peaks[: max(1, height - 4)]}
        for series, runs in drawn:
            # One legend entry a series, on its longest run: plotext's legend fails on a labelled
            # signal that has no point on the canvas.
            longest = max(range(len(runs)), key=lambda index: len(runs[index][0]))
            for index, (xs, ys) in enumerate(runs):
                label = plain(series.label) if index == longest and id(series) in labelled else None
                plt.plot(xs, ys, marker="braille", color=series.color, label=label)


def shown(data: ChartData, span: float) -> list[tuple[Series, Runs]]:
    """The series drawn, with their runs of points in the span. With ``hide_idle``, a series
    that stayed at 0 (no 3xx in the window) is left out, unless they all did."""
    drawn = [(series, runs) for series in data.series if (runs := segments(data.ago, series.values, span))]
    if data.hide_idle:
        busy = [(series, runs) for series, runs in drawn if any(y for _, ys in runs for y in ys)]
        return busy or drawn[:1]
    return drawn


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` with an ellipsis: plotext leaves out a title too long for its line."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def segments(ago: Sequence[float], values: Sequence[float | None], span: float) -> Runs:
    """The runs of points inside the span that have a value, as (x, y) lists, x = -ago: a point
    without a value is a gap."""
    runs: Runs = []
    xs: list[float] = []
    ys: list[float] = []
    for x, y in zip(ago, values, strict=False):
        if x > span:
            continue
        if y is None or not math.isfinite(y):
            if xs:
                runs.append((xs, ys))
                xs, ys = [], []
            continue
        xs.append(-x)
        ys.append(y)
    if xs:
        runs.append((xs, ys))
    return runs


def nice_ticks(top: float, rows: int) -> list[float]:
    """Round ticks from 0 up to at least ``top``, about ``rows`` of them past 0."""
    raw = top / rows
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    count = max(1, math.ceil(top / step - 1e-9))
    return [step * i for i in range(count + 1)]


def tick_label(value: float) -> str:
    for suffix, step in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= step:
            return f"{value / step:g}{suffix}"
    return f"{value:g}"


def time_ticks(span: float, columns: int) -> list[float]:
    """Seconds ago to mark on the x axis, oldest first, ending at 0; fewer on a narrow chart."""
    wanted = max(2, min(6, columns // 12))
    step = next(
        (s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if span / s <= wanted),
        3600 * math.ceil(span / 3600 / wanted),
    )
    return [step * i for i in range(int(span // step), -1, -1)]


def ago_label(seconds: float, *, first: bool) -> str:
    """The x axis needs no line of its own: its oldest tick says the unit, the last one "now"."""
    if seconds == 0:
        return "now"
    text = f"{seconds / 60:g} min" if seconds >= 120 and seconds % 60 == 0 else f"{seconds:g} s"
    return f"{text} ago" if first else text
