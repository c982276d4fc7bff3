"""The Overview tab: per source and interface, a card of numbers and charts, side by side.

The cards fill the tab: as many columns as fit (each at least ``CARD_MIN_WIDTH``), rows sharing
the height. A card never gets less than it needs to show its numbers whole and its charts
readable; when the terminal is too short for that, the tab scrolls instead of cutting.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.events import Resize
from textual.geometry import Size
from textual.widgets import Static

from gatewatch_dashboard.figures import SourceFigures
from gatewatch_dashboard.model import Reading
from gatewatch_dashboard.widgets.interface_card import CardData, InterfaceCard
from gatewatch_dashboard.widgets.tab_view import TabView

CARD_MIN_WIDTH = 48
SCROLLBAR = 2  # columns of a vertical scrollbar (Textual's default)


class Overview(TabView):
    """Per source and interface, side by side."""

    _layout: tuple[int, int, int] = (0, 0, 0)  # columns, row height, rows

    def compose(self) -> ComposeResult:
        yield Static("Waiting for the first answer of every source…", id="overview-waiting")
        with VerticalScroll(id="overview-scroll"):
            yield Grid(id="cards")

    async def update_view(self) -> None:
        grid = self.query_one("#cards", Grid)
        wanted = list(cards_of(self.readings, self.figures))
        existing = [card for card in grid.children if isinstance(card, InterfaceCard)]
        if [card.key for card in existing] != [data.key for data in wanted]:
            await grid.remove_children()
            existing = [InterfaceCard(data.key) for data in wanted]
            await grid.mount_all(existing)
        for card, data in zip(existing, wanted, strict=True):
            card.show(data)
        # The note and the cards take turns: the cards' space is then the tab's whole size,
        # known now, not after the next refresh.
        self.query_one("#overview-waiting", Static).display = not wanted
        self.query_one("#overview-scroll", VerticalScroll).display = bool(wanted)
        self._arrange(self.size)

    def on_resize(self, event: Resize) -> None:
        self._arrange(event.size)

    def _arrange(self, size: Size) -> None:
        width, height = size
        grid = self.query_one("#cards", Grid)
        cards = [card for card in grid.children if isinstance(card, InterfaceCard)]
        if not width or not cards:
            return
        layout = self._fit(cards, width, height)
        if layout[1] * layout[2] > height:  # it scrolls: its scrollbar takes columns
            layout = self._fit(cards, width - SCROLLBAR, height)
        if layout == self._layout:
            return  # every poll arranges: a layout pass only when something changed
        self._layout = layout
        columns, row_height, rows = layout
        grid.styles.grid_size_columns = columns
        grid.styles.grid_rows = str(row_height)
        grid.styles.height = row_height * rows

    @staticmethod
    def _fit(cards: Sequence[InterfaceCard], width: int, height: int) -> tuple[int, int, int]:
        """Columns, row height and rows: as many columns as fit, rows sharing the height, and
        never less than a card needs."""
        columns = max(1, min(len(cards), width // CARD_MIN_WIDTH))
        rows = math.ceil(len(cards) / columns)
        needed = max(card.min_height(width // columns) for card in cards)
        return columns, max(height // rows, needed), rows


def cards_of(readings: Sequence[Reading], figures: Sequence[SourceFigures]) -> Iterator[CardData]:
    """One card per source and interface, in the order of the sources; one card for a source
    without an interface yet (not answering, or no request seen). A source's figures and its
    reading are matched by the source's name."""
    by_name = {figure.source: figure for figure in figures}
    read = {reading.source for reading in readings}
    sources: list[tuple[Reading | None, SourceFigures | None]] = [
        (reading, by_name.get(reading.source)) for reading in readings
    ]
    sources += [(None, figure) for figure in figures if figure.source not in read]
    for index, (reading, figure) in enumerate(sources):
        name = reading.source if reading is not None else figure.source if figure is not None else ""
        error = reading.error if reading is not None else None
        if error is None and figure is not None:
            error = figure.error
        kind = reading.kind if reading is not None else figure.kind if figure is not None else ""
        for stats in (figure.interfaces if figure is not None else ()) or (None,):
            yield CardData(
                key=f"{index}-{stats.interface if stats is not None else 'none'}",
                source=name,
                kind=kind,
                polls=reading.polls if reading is not None else None,
                error=error,
                stats=stats,
                timeline=figure.timelines.get(stats.interface) if figure and stats else None,
                span=figure.span if figure is not None else None,
            )
