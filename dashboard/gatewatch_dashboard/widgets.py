"""The dashboard's tabs: small widgets that format what :mod:`gatewatch_dashboard.model` derived.

Each tab holds the app's ``readings`` (bound with ``data_bind``) and redraws when they change;
none of them fetches anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, HorizontalScroll, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Label, Sparkline, Static

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.model import (
    InterfaceStats,
    Reading,
    block_rows,
    in_flight_rows,
    session_counts,
    session_rows,
    sort_routes,
)

HOT = "bold red"
DIM = "dim"


# -- formatting --------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    """Milliseconds below 10 s, seconds above; ``-`` when unknown."""
    if value is None:
        return "-"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    if 0 < value < 0.001:
        return f"{value * 1000:.2f} ms"
    return f"{value * 1000:.1f} ms"


def share(value: float | None) -> str:
    if value is None:
        return "-"
    value = min(value, 1.0)
    return f"{value:.1%}" if 0 < value < 0.1 else f"{value:.0%}"


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def size(value: int) -> str:
    for unit, step in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= step:
            return f"{value / step:.1f} {unit}"
    return f"{value} B"


def ago(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s ago"


class TabView(Widget):
    """A tab: redrawn whenever the app's readings (or the filter and sort) change."""

    readings: reactive[tuple[Reading, ...]] = reactive(())
    route_filter: reactive[str] = reactive("")
    sort_key: reactive[str] = reactive("rate")

    async def watch_readings(self) -> None:
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

    def errors(self) -> Text:
        """One line per source that failed its last poll: the UI says so and keeps polling."""
        text = Text()
        for reading in self.readings:
            if reading.error is not None:
                text.append_text(literal(f"{reading.source}: {reading.error}", HOT, limit=None))
                text.append("\n")
        return text


def fill(table: DataTable[RenderableType], rows: Iterable[Sequence[RenderableType]]) -> None:
    """Replace a table's rows, keeping the cursor where it was.

    A ``str`` cell is shown literally (a table would read it as markup); styled cells holding
    an app's string build it with :func:`literal` themselves.
    """
    row = table.cursor_row
    table.clear()
    for cells in rows:
        table.add_row(*(literal(cell) if isinstance(cell, str) else cell for cell in cells))
    if table.row_count:
        table.move_cursor(row=min(row, table.row_count - 1), animate=False)


# -- Overview ----------------------------------------------------------------------------


class InterfaceCard(Vertical):
    """One interface of one source: its numbers and three short histories."""

    def __init__(self, key: str) -> None:
        super().__init__(classes="card")
        self.key = key

    def compose(self) -> ComposeResult:
        yield Static(classes="card-title")
        yield Static(classes="card-status")
        yield Static(classes="card-numbers")
        yield Label("requests/s, last 60 s", classes="spark-label")
        yield Sparkline([], classes="spark-rate")
        yield Label("mean latency, last 60 s", classes="spark-label")
        yield Sparkline([], classes="spark-latency")
        yield Label("", classes="spark-label third-label")
        yield Sparkline([], classes="spark-third")

    def show(self, reading: Reading, stats: InterfaceStats | None, in_flight: Sequence[float]) -> None:
        title = literal(reading.source, "bold")
        if stats is not None:
            title = Text.assemble(
                literal(stats.interface.upper(), "bold reverse"),
                " ",
                literal(stats.server, "bold"),
                "  ",
                literal(reading.source),
            )
        self.query_one(".card-title", Static).update(title)
        status = self.query_one(".card-status", Static)
        if reading.error is not None:
            kept = " (its last answer below)" if stats is not None else ""
            status.update(literal(f"{reading.error}{kept}", HOT, limit=None))
            self.add_class("failing")
        else:
            status.update(literal(f"{reading.kind} · poll {reading.polls}", DIM))
            self.remove_class("failing")
        if stats is None:
            self.query_one(".card-numbers", Static).update(Text("no data yet"))
            return
        self.query_one(".card-numbers", Static).update(numbers_table(stats))
        self.query_one(".spark-rate", Sparkline).data = list(stats.rate_history)
        self.query_one(".spark-latency", Sparkline).data = list(stats.latency_history)
        asgi = stats.interface == "asgi"
        self.query_one(".third-label", Label).update(
            "loop lag, last 60 s" if asgi else "in flight, since the dashboard started"
        )
        self.query_one(".spark-third", Sparkline).data = list(stats.lag_history if asgi else in_flight)


def numbers_table(stats: InterfaceStats) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style=DIM)
    table.add_column(justify="right")
    rows = [
        ("requests/s", number(stats.rate)),
        ("p50 / p95 / p99", f"{seconds(stats.p50)} / {seconds(stats.p95)} / {seconds(stats.p99)}"),
        ("error rate (5xx)", share(stats.error_rate)),
        ("in flight", count(stats.in_flight)),
        (
            "concurrency at arrival",
            f"{number(stats.concurrency)} mean, {count(stats.concurrency_max)} max",
        ),
        ("blocking share", share(stats.blocking_share)),
    ]
    if stats.interface == "asgi":
        rows.append(("loop lag now / p99", f"{seconds(stats.lag)} / {seconds(stats.lag_p99)}"))
    else:
        capacity = "?" if stats.capacity is None else str(stats.capacity)
        rows.append(("workers busy", f"{count(stats.busy)} / {capacity}"))
        rows.append(("queue time (mean)", seconds(stats.queue)))
    rows.append(("after response (mean)", seconds(stats.after_response)))
    if stats.processes:
        rows.append(("processes", str(stats.processes)))
    for label, value in rows:
        table.add_row(label, value)
    return table


class Overview(TabView):
    """Per source and interface, side by side."""

    def compose(self) -> ComposeResult:
        yield HorizontalScroll(id="cards")

    async def update_view(self) -> None:
        cards = self.query_one("#cards", HorizontalScroll)
        wanted = [
            (f"{index}-{stats.interface if stats else 'none'}", reading, stats)
            for index, reading in enumerate(self.readings)
            for stats in (reading.interfaces or (None,))
        ]
        existing = [card for card in cards.children if isinstance(card, InterfaceCard)]
        if [card.key for card in existing] != [key for key, _, _ in wanted]:
            await cards.remove_children()
            existing = [InterfaceCard(key) for key, _, _ in wanted]
            await cards.mount_all(existing)
        history = getattr(self.app, "history", None)
        for card, (_, reading, stats) in zip(existing, wanted, strict=True):
            in_flight = history.in_flight_of(reading.source, stats.interface) if history and stats else ()
            card.show(reading, stats, in_flight)


# -- In flight ---------------------------------------------------------------------------


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
            f"{len(rows)} running, oldest first",
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


# -- WebSockets --------------------------------------------------------------------------


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


# -- Routes ------------------------------------------------------------------------------


class RoutesView(TabView):
    def compose(self) -> ComposeResult:
        yield Static(classes="tab-note")
        table: DataTable[RenderableType] = DataTable(zebra_stripes=True, cursor_type="row")
        table.add_columns("source", "", "route", "requests", "req/s", "p50", "p95", "p99")
        table.add_columns("held (mean)", "cpu (mean)", "offload (mean)", "5xx")
        yield table

    def redraw(self) -> None:
        rows = sort_routes((row for r in self.readings for row in r.routes), self.sort_key, self.route_filter)
        note = Text.assemble(
            f"{len(rows)} routes, sorted by ",
            literal(self.sort_key, "bold"),
            literal(f"   filter: {self.route_filter}" if self.route_filter else "", "bold"),
            ("   (s: sort, /: filter)", DIM),
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


# -- Blocking ----------------------------------------------------------------------------


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


# -- Workers -----------------------------------------------------------------------------


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
