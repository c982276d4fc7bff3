"""One interface of one source on the Overview: its numbers, then its charts over the window."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.events import Resize
from textual.widgets import Static

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.figures import Span, Timeline
from gatewatch_dashboard.model import InterfaceStats
from gatewatch_dashboard.widgets._format import DIM, HOT, count, number, seconds, share
from gatewatch_dashboard.widgets._numbers import NumberRows
from gatewatch_dashboard.widgets.time_chart import MIN_HEIGHT, MIN_WIDTH, ChartData, Series, TimeChart

CHARTS = 3
# Lines a card takes besides its numbers and charts: the border (2), the title and the status.
CHROME = 4
STATUS_COLORS = {"2xx": "green", "3xx": "cyan", "4xx": "orange", "5xx": "red", "other": "white"}
PERCENTILE_COLORS = (("p50", "cyan"), ("p95", "orange"), ("p99", "red"))


@dataclass(frozen=True)
class CardData:
    """What one card shows: a source's interface (None before its first answer) over a span."""

    key: str
    source: str
    kind: str
    polls: int | None = None
    error: str | None = None
    stats: InterfaceStats | None = None
    timeline: Timeline | None = None
    span: Span | None = None


class InterfaceCard(Vertical):
    """One interface of one source: its numbers first, then three charts."""

    def __init__(self, key: str) -> None:
        super().__init__(classes="card")
        self.key = key
        self.data: CardData | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="card-title")
        yield Static(classes="card-status")
        yield Static(classes="card-numbers")
        with Grid(classes="card-charts"):
            for name in ("rate", "latency", "third"):
                yield TimeChart(classes=f"chart chart-{name}")

    def on_resize(self, event: Resize) -> None:
        self._arrange(event.size.width)

    def _arrange(self, width: int) -> None:
        """Charts side by side when the card is wide enough, one above the other when not."""
        columns = chart_columns(width)
        grid = self.query_one(".card-charts", Grid)
        if grid.styles.grid_size_columns != columns:
            grid.styles.grid_size_columns = columns
            # Two columns: the third chart takes the whole row under the first two.
            self.query_one(".chart-third", TimeChart).styles.column_span = 2 if columns == 2 else 1

    def min_height(self, width: int) -> int:
        """Lines this card needs at ``width`` to show its numbers whole and charts readable."""
        data = self.data
        if data is None or data.stats is None:
            return CHROME + 1
        rows = math.ceil(CHARTS / chart_columns(width))
        # The numbers as laid out at this width: a narrow card wraps a row onto two lines.
        console = self.app.console
        numbers = console.render_lines(numbers_table(data.stats), console.options.update_width(width - 4))
        return CHROME + len(numbers) + rows * MIN_HEIGHT

    def show(self, data: CardData) -> None:
        self.data = data
        stats = data.stats
        title = literal(data.source, "bold")
        if stats is not None:
            title = Text.assemble(
                literal(stats.interface.upper(), "bold reverse"),
                " ",
                literal(stats.server, "bold"),
                "  ",
                literal(data.source),
            )
        self.query_one(".card-title", Static).update(title)
        status = self.query_one(".card-status", Static)
        if data.error is not None:
            kept = " (its last answer below)" if stats is not None else ""
            retrying = "" if "retrying" in data.error else "; retrying"
            status.update(literal(f"{data.error}{retrying}{kept}", HOT, limit=None))
            self.add_class("failing")
        else:
            parts = [data.kind] + ([] if data.polls is None else [f"poll {data.polls}"])
            if data.span is not None:
                parts.append(data.span.text())
            status.update(literal(" · ".join(parts), DIM))
            self.remove_class("failing")
        charts = self.query_one(".card-charts", Grid)
        if stats is None:
            self.query_one(".card-numbers", Static).update(Text("no data yet"))
            charts.display = False
            return
        self.query_one(".card-numbers", Static).update(numbers_table(stats))
        charts.display = True
        timeline = data.timeline or Timeline()
        shown = charts_of(stats, timeline, data.span)
        for name, chart in zip(("rate", "latency", "third"), shown, strict=True):
            self.query_one(f".chart-{name}", TimeChart).show(chart)


def chart_columns(width: int) -> int:
    """How many charts fit side by side in a card ``width`` wide (its border and padding: 4)."""
    return max(1, min(CHARTS, (width - 4) // MIN_WIDTH))


def charts_of(stats: InterfaceStats, timeline: Timeline, span: Span | None) -> tuple[ChartData, ...]:
    """The card's three charts: requests/s by status class, latency percentiles, and the loop's
    lag (ASGI) or the workers busy against the capacity (WSGI)."""
    window = "" if span is None else f" · {span.text()}"
    seconds_wide = None if span is None else span.window.seconds or span.seconds
    ago = timeline.ago
    rate = ChartData(
        f"requests/s by status{window}",
        ago,
        tuple(
            Series(status, values, STATUS_COLORS.get(status, "white"))
            for status, values in sorted(timeline.rate_by_status.items())
        ),
        seconds_wide,
        hide_idle=True,  # five classes, rarely all seen: the legend names those that were
        short_title=f"requests/s{window}",
    )
    latency = ChartData(
        f"latency, ms{window}",
        ago,
        tuple(Series(name, in_ms(getattr(timeline, name)), color) for name, color in PERCENTILE_COLORS),
        seconds_wide,
    )
    if stats.interface == "asgi":
        lag = Series("lag p99", in_ms(timeline.lag_p99), "magenta")
        third = ChartData(
            f"loop lag p99, ms{window}", ago, (lag,), seconds_wide, short_title=f"lag p99, ms{window}"
        )
    else:
        capacity = timeline.capacity if timeline.capacity is not None else stats.capacity
        series = [Series("busy", timeline.busy, "blue")]
        if capacity is not None:
            series.append(Series(f"capacity {capacity}", tuple(float(capacity) for _ in ago), "red"))
        third = ChartData(
            f"workers busy / capacity{window}",
            ago,
            tuple(series),
            seconds_wide,
            floor=(capacity or 1) * 1.25,
            short_title=f"busy / capacity{window}",
        )
    return rate, latency, third


def in_ms(values: tuple[float | None, ...]) -> tuple[float | None, ...]:
    return tuple(None if value is None else value * 1000 for value in values)


def number_rows(stats: InterfaceStats) -> list[tuple[str, str]]:
    rows = [
        ("requests/s", number(stats.rate)),
        ("p50 / p95 / p99", durations(stats.p50, stats.p95, stats.p99)),
        ("error rate (5xx)", share(stats.error_rate)),
        ("in flight", count(stats.in_flight)),
        ("in flight at arrival (mean)", number(stats.concurrency)),
        ("blocking share", share(stats.blocking_share)),
    ]
    if stats.interface == "asgi":
        rows.append(("loop lag now / p99", durations(stats.lag, stats.lag_p99)))
    else:
        capacity = "?" if stats.capacity is None else str(stats.capacity)
        rows.append(("workers busy", f"{count(stats.busy)} / {capacity}"))
        rows.append(("queue time (mean)", seconds(stats.queue)))
    rows.append(("after response (mean)", seconds(stats.after_response)))
    if stats.processes:
        rows.append(("processes", str(stats.processes)))
    return rows


def numbers_table(stats: InterfaceStats) -> NumberRows:
    return NumberRows(number_rows(stats))


def durations(*values: float | None) -> str:
    """``2.0 / 100.0 / 100.0 ms``: the unit once when every value has the same one."""
    texts = [seconds(value) for value in values]
    units = {text.rpartition(" ")[2] for text in texts if text != "-"}
    if len(units) == 1:
        [unit] = units
        return " / ".join(text.removesuffix(f" {unit}") for text in texts) + f" {unit}"
    return " / ".join(texts)
