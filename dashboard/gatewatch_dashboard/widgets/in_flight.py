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
from gatewatch_dashboard.widgets._format import HOT, count, seconds
from gatewatch_dashboard.widgets.tab_view import TabView, fill


class InFlightView(TabView):
    """Requests and WebSocket sessions running now, oldest first."""

    def compose(self) -> ComposeResult:
        yield Static(classes="tab-note")
        table: DataTable[RenderableType] = DataTable(zebra_stripes=True, cursor_type="row")
        table.add_columns(
            "source", "pid", "", "method", "route", "age", "held", "offload", "hops", "awaiting now"
        )
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
                    row.awaiting,
                ]
            )
        fill(self.query_one(DataTable), cells)
