"""The Routes tab: per route template over the window chosen, sortable and filtered."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.detail_rows import (
    sort_routes,
)
from gatewatch_dashboard.widgets._format import DIM, HOT, count, number, seconds
from gatewatch_dashboard.widgets.tab_view import TabView, fill


class RoutesView(TabView):
    """Every route with requests in the window: counts from the sources' counters, the same as
    ``/metrics`` gives over the same window."""

    def compose(self) -> ComposeResult:
        yield Static(classes="tab-note")
        table: DataTable[RenderableType] = DataTable(zebra_stripes=True, cursor_type="row")
        table.add_columns("source", "", "route", "requests", "req/s", "p50", "p95", "p99")
        table.add_columns("held", "cpu", "offload", "5xx")
        yield table

    def redraw(self) -> None:
        rows = sort_routes((row for f in self.figures for row in f.routes), self.sort_key, self.route_filter)
        note = Text.assemble(
            (self.span_text(), "bold"),
            f": {len(rows)} route{'' if len(rows) == 1 else 's'} with requests, sorted by ",
            literal(self.sort_key, "bold"),
            literal(f"   filter: {self.route_filter}" if self.route_filter else "", "bold"),
            ("   held, cpu, offload: means per request", DIM),
            "\n",
        )
        note.append_text(self.errors())
        self.query_one(".tab-note", Static).update(note)
        fill(
            self.query_one(DataTable),
            [
                [
                    row.source,
                    row.interface,
                    row.route,
                    count(row.requests),
                    number(row.rate),
                    seconds(row.p50),
                    seconds(row.p95),
                    seconds(row.p99),
                    seconds(row.blocking),
                    seconds(row.cpu),
                    seconds(row.offload),
                    Text(count(row.errors), style=HOT if row.errors else ""),
                ]
                for row in rows
            ],
        )
