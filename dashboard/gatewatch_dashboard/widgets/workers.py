"""The Workers tab: WSGI workers busy now against their capacity, and how often the window's
requests took the last free thread."""

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
        table.add_columns("source", "pid", "servers", "busy / capacity", "all busy", "saturations")
        table.add_columns("in flight", "ws open", "queue", "errors")
        yield table

    def redraw(self) -> None:
        rows = [row for figures in self.figures for row in figures.workers]
        saturated = sum(1 for row in rows if row.is_saturated)
        took_last = sum(s.saturated or 0 for f in self.figures for s in f.interfaces if s.interface == "wsgi")
        queues = [s.queue for f in self.figures for s in f.interfaces if s.interface == "wsgi" and s.queue]
        note = Text.assemble(
            (self.span_text(), "bold"),
            ": ",
            (
                f"{took_last:,} request{'' if took_last == 1 else 's'} took the last free thread",
                HOT if took_last else "",
            ),
            f", mean queue {seconds(max(queues, default=None))}",
            "   now: ",
            (f"{saturated} of {len(rows)} processes all busy", HOT)
            if saturated
            else f"{len(rows)} process{'' if len(rows) == 1 else 'es'}",
            "\n",
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
                    Text(count(row.saturated), style=HOT if row.saturated else ""),
                    count(row.in_flight),
                    count(row.websockets),
                    seconds(row.queue),
                    count(row.internal_errors),
                ]
                for row in rows
            ],
        )
