"""The base of every tab: redrawn when the app's readings, figures, filter or sort change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from weakref import WeakKeyDictionary

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.figures import SourceFigures
from gatewatch_dashboard.model import Reading
from gatewatch_dashboard.widgets._format import HOT
from gatewatch_dashboard.window import spans_text


class TabView(Widget):
    """A tab: redrawn whenever the app's readings (or the filter and sort) change."""

    readings: reactive[tuple[Reading, ...]] = reactive(())
    # Every source's figures over the window chosen (gatewatch_dashboard.window), one per reading.
    figures: reactive[tuple[SourceFigures, ...]] = reactive(())
    route_filter: reactive[str] = reactive("")
    sort_key: reactive[str] = reactive("rate")

    async def watch_readings(self) -> None:
        await self.update_view()

    async def watch_figures(self) -> None:
        await self.update_view()

    async def watch_route_filter(self) -> None:
        await self.update_view()

    async def watch_sort_key(self) -> None:
        await self.update_view()

    async def update_view(self) -> None:
        """Show the current readings; called on every change."""
        self.redraw()

    def redraw(self) -> None:
        """Show the current readings, when that needs no new widgets."""

    def span_text(self) -> str:
        """What this tab's windowed figures cover, as every note starts: ``last 60 s (12 s so
        far)``; each source's part when they differ."""
        return spans_text(self.figures)

    def errors(self) -> Text:
        """One line per source that failed its last poll: the UI says so and keeps polling."""
        text = Text()
        for reading in self.readings:
            if reading.error is not None:
                text.append_text(literal(f"{reading.source}: {reading.error}", HOT, limit=None))
                text.append("\n")
        return text


def fill(table: DataTable[RenderableType], rows: Iterable[Sequence[RenderableType]]) -> None:
    """Replace a table's rows, keeping the cursor where it was; the same rows again leave the
    table as it is (redrawing a table is most of a poll's cost).

    A ``str`` cell is shown literally (a table would read it as markup); styled cells holding
    an app's string build it with :func:`literal` themselves.
    """
    cells: list[list[RenderableType]] = [
        [literal(cell) if isinstance(cell, str) else cell for cell in row] for row in rows
    ]
    shown = [[_signature(cell) for cell in line] for line in cells]
    if _SHOWN.get(table) == shown:
        return
    _SHOWN[table] = shown
    row = table.cursor_row
    table.clear()
    for line in cells:
        table.add_row(*line)
    if table.row_count:
        table.move_cursor(row=min(row, table.row_count - 1), animate=False)


def _signature(cell: RenderableType) -> object:
    # A Text equals another with the same characters and spans, whatever its own style.
    return (cell.plain, str(cell.style), cell.spans) if isinstance(cell, Text) else cell


# What each table was last filled with (forgotten with the table).
_SHOWN: WeakKeyDictionary[DataTable[RenderableType], list[list[object]]] = WeakKeyDictionary()
