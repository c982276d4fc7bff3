"""The Workers tab: WSGI workers busy and their capacity."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from gatewatch_dashboard.widgets._format import DIM, HOT, count, seconds
from gatewatch_dashboard.widgets.tab_view import TabView, fill


class WorkersView(TabView):
    def compose(self) -> ComposeResult:
        yield Static(classes="tab-note")
        table: DataTable[RenderableType] = DataTable(zebra_stripes=True, cursor_type="row")
        table.add_columns("source", "pid", "servers", "busy / capacity", "saturated", "in flight")
        table.add_columns("websockets", "queue time (mean)", "internal errors")
        yield table

    def redraw(self) -> None:
        rows = [row for reading in self.readings for row in reading.workers]
        saturated = sum(1 for row in rows if row.is_saturated)
        queues = [s.queue for r in self.readings for s in r.interfaces if s.interface == "wsgi" and s.queue]
        note = Text.assemble(
            f"{len(rows)} processes",
            (f"   {saturated} saturated: every WSGI thread busy, arrivals wait" if saturated else "", HOT),
            f"   WSGI queue time (mean): {seconds(max(queues, default=None))}\n",
        )
        note.append_text(self.errors())
        self.query_one(".tab-note", Static).update(note)
        fill(
            self.query_one(DataTable),
            [
                [
                    row.source,
                    str(row.pid),
                    row.servers,
                    Text(
                        f"{row.busy} / {'?' if row.total is None else row.total}" if row.wsgi else "-",
                        style=HOT if row.is_saturated else "",
                    ),
                    Text("yes", style=HOT)
                    if row.is_saturated
                    else Text("no" if row.total else "-", style=DIM),
                    count(row.in_flight),
                    count(row.websockets),
                    seconds(row.queue),
                    count(row.internal_errors),
                ]
                for row in rows
            ],
        )
