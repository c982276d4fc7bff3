"""The Blocking tab: the loop blocks each source reported."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Label, Sparkline, Static

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.detail_rows import (
    block_rows,
)
from gatewatch_dashboard.widgets._format import DIM, HOT, ago, seconds
from gatewatch_dashboard.widgets.tab_view import TabView, fill


class BlockingView(TabView):
    """Recent loop blocks (newest first) with the stack of the highlighted one, and lag."""

    def compose(self) -> ComposeResult:
        yield Static(classes="tab-note")
        with Horizontal(id="blocks"):
            table: DataTable[RenderableType] = DataTable(id="block-table", cursor_type="row")
            table.add_columns("source", "pid", "when", "route", "held the loop")
            yield table
            with VerticalScroll(id="stack-scroll"):
                yield Static(id="stack")
        yield Label("loop lag, last 60 s (every ASGI source)", classes="spark-label")
        yield Sparkline([], id="lag")

    def redraw(self) -> None:
        self._blocks = block_rows(self.readings)
        lag = [
            value
            for r in self.readings
            for s in r.interfaces
            if s.interface == "asgi"
            for value in s.lag_history
        ]
        worst = max(lag, default=None)
        note = Text(
            f"{len(self._blocks)} recent loop blocks, newest first"
            f"   worst lag in the last 60 s: {seconds(worst)}\n"
        )
        note.append_text(self.errors())
        self.query_one(".tab-note", Static).update(note)
        table = self.query_one("#block-table", DataTable)
        fill(
            table,
            [
                [row.source, str(row.pid), ago(row.ago), literal(row.route, HOT), seconds(row.duration)]
                for row in self._blocks
            ],
        )
        self.query_one("#lag", Sparkline).data = lag
        self._show_stack(table.cursor_row)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_stack(event.cursor_row)

    def _show_stack(self, index: int) -> None:
        blocks = getattr(self, "_blocks", [])
        stack = self.query_one("#stack", Static)
        if not blocks:
            stack.update(
                Text("No loop blocks: no synchronous step held the loop past the threshold.", style=DIM)
            )
            return
        block = blocks[min(max(index, 0), len(blocks) - 1)]
        text = Text.assemble(
            literal(block.route, "bold", limit=None),
            f" held the loop for {seconds(block.duration)}; its stack, innermost last:\n\n",
        )
        if block.stack:
            # Each frame on its own line: a newline inside one is shown, never followed.
            text.append_text(Text("\n").join(literal(frame, limit=None) for frame in block.stack))
        else:
            text.append("(too short for the watchdog to read a stack)")
        stack.update(text)
