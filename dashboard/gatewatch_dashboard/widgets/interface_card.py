"""One interface of one source on the Overview: its numbers and short histories."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline, Static

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.model import InterfaceStats, Reading
from gatewatch_dashboard.widgets._format import DIM, HOT, count, number, seconds, share


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
