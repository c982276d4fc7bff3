"""The In flight tab: requests and WebSocket sessions running now."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.detail_rows import (
    in_flight_rows,
)
from gatewatch_dashboard.widgets._fit import fit
from gatewatch_dashboard.widgets._format import HOT, count, seconds
from gatewatch_dashboard.widgets.tab_view import TabView, fill

HEADERS = ("source", "pid", "", "method", "route", "age", "held", "offload", "hops", "awaiting now")


class InFlightView(TabView):
    """Requests and WebSocket sessions running now, oldest first."""

    def compose(self) -> ComposeResult:
        yield Static(classes="tab-note")
        table: DataTable[RenderableType] = DataTable(zebra_stripes=True, cursor_type="row")
        table.add_columns(*HEADERS)
        yield table

    def redraw(self) -> None:
        rows = [
            row for row in in_flight_rows(self.readings) if self.route_filter.lower() in row.route.lower()
        ]
        holding = sum(1 for row in rows if row.holding_loop)
        note = Text.assemble(
            ("now", "bold"),
            f": {len(rows)} running, oldest first",
            literal(f"  filter: {self.route_filter}" if self.route_filter else "", "bold"),
            (f"  {holding} holding the loop" if holding else "", HOT),
            "   held = time holding the loop (ASGI) or the worker (WSGI) so far\n",
        )
        note.append_text(self.errors())
        self.query_one(".tab-note", Static).update(note)
        cells: list[list[RenderableType]] = []
        for row in rows:
            style = HOT if row.holding_loop else ""
            cells.append(
                [
                    row.source,
                    str(row.pid),
                    literal(row.interface if row.kind == "http" else "ws", style),
                    row.method,
                    literal(row.route, style),
                    seconds(row.age),
                    Text(seconds(row.held), style=style),
                    seconds(row.offload),
                    count(row.hops),
                ]
            )
        # What a request awaits is the last column: cut to the room the others leave (with the
        # marker), so that the table never scrolls sideways at 120 columns.
        widths = [
            max(len(header), *(_cells_of(cell) for cell in column))
            for header, column in zip(HEADERS, zip(*cells, strict=True), strict=False)
        ]
        room = max(self.size.width - sum(width + 2 for width in widths) - 3, 16)
        for row, row_cells in zip(rows, cells, strict=True):
            row_cells.append(fit(row.awaiting, room))
        fill(self.query_one(DataTable), cells)

    def on_resize(self) -> None:
        self.redraw()


def _cells_of(cell: RenderableType) -> int:
    return cell.cell_len if isinstance(cell, Text) else Text(str(cell)).cell_len
