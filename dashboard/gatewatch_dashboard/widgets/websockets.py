"""The WebSockets tab: sessions open now and the last ones that closed."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label, Static

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.detail_rows import (
    session_counts,
    session_rows,
)
from gatewatch_dashboard.widgets._format import HOT, ago, count, number, seconds, size
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
        yield Label("Recently ended", classes="section")
        closed: DataTable[RenderableType] = DataTable(id="ws-closed", zebra_stripes=True, cursor_type="row")
        closed.add_columns(
            "source", "id", "route", "outcome", "duration", "messages", "code", "closed by", "ended"
        )
        yield closed

    def redraw(self) -> None:
        open_rows, closed_rows = session_rows(self.readings)
        counts = session_counts(self.readings)
        rate = sum(row.rate or 0.0 for row in open_rows)
        note = Text(
            f"{counts['open']} open ({rate:,.1f} msg/s)   recently ended: {counts['accepted']} accepted, "
            f"{counts['rejected']} refused, {counts['failed']} failed\n"
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
