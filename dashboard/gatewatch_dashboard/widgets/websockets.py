"""The WebSockets tab: sessions ended over the window by outcome, those open now, and the
last ones that closed."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label, Static

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.detail_rows import (
    open_sessions,
    session_rows,
)
from gatewatch_dashboard.widgets._format import DIM, HOT, ago, count, number, seconds, size
from gatewatch_dashboard.widgets.tab_view import TabView, fill


class WebSocketsView(TabView):
    def compose(self) -> ComposeResult:
        yield Static(classes="tab-note")
        yield Label("Open sessions", classes="section")
        opened: DataTable[RenderableType] = DataTable(id="ws-open", zebra_stripes=True, cursor_type="row")
        opened.add_columns(
            "source", "pid", "id", "route", "age", "in msgs", "in bytes", "out msgs", "out bytes"
        )
        opened.add_columns("msg/s", "last message")
        yield opened
        yield Label("Recently ended (the last ones each process keeps)", classes="section")
        closed: DataTable[RenderableType] = DataTable(id="ws-closed", zebra_stripes=True, cursor_type="row")
        closed.add_columns(
            "source", "id", "route", "outcome", "duration", "messages", "code", "closed by", "ended"
        )
        yield closed

    def redraw(self) -> None:
        open_rows, closed_rows = session_rows(self.readings)
        ended: dict[str, float] = {}
        for figures in self.figures:
            for (_, outcome), counted in figures.sessions.items():
                ended[outcome] = ended.get(outcome, 0.0) + counted.sessions
        rate = sum(row.rate or 0.0 for row in open_rows)
        refused = round(ended.get("rejected", 0.0))
        failed = round(ended.get("failed", 0.0))
        note = Text.assemble(
            (self.span_text(), "bold"),
            f": {round(ended.get('accepted', 0.0))} sessions ended accepted, ",
            (f"{refused} refused", HOT if refused else ""),
            ", ",
            (f"{failed} failed", HOT if failed else ""),
            f"   now: {open_sessions(self.readings)} open ({rate:,.1f} msg/s)",
            ("   (w: window)", DIM),
            "\n",
        )
        note.append_text(self.errors())
        self.query_one(".tab-note", Static).update(note)
        fill(
            self.query_one("#ws-open", DataTable),
            [
                [
                    row.source,
                    str(row.pid),
                    str(row.id),
                    row.route,
                    seconds(row.age),
                    count(row.received),
                    size(row.received_bytes),
                    count(row.sent),
                    size(row.sent_bytes),
                    number(row.rate),
                    ago(row.last_message_age),
                ]
                for row in open_rows
            ],
        )
        fill(
            self.query_one("#ws-closed", DataTable),
            [
                [
                    row.source,
                    str(row.id),
                    row.route,
                    literal(row.outcome, "" if row.outcome == "accepted" else HOT),
                    seconds(row.duration),
                    count(row.received + row.sent),
                    "-" if row.close_code is None else str(row.close_code),
                    row.initiator or "-",
                    ago(row.closed_ago),
                ]
                for row in closed_rows
            ],
        )
