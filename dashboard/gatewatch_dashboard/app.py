"""``gatewatch top``: the Textual app.

One worker polls every source about twice a second (``interval``) with async HTTP, so the UI
never waits on a server; each poll replaces the app's ``readings`` and, cut from the readings
kept (:class:`~gatewatch_dashboard.window.ReadingLog`), every source's ``figures`` over the
window chosen (``w`` cycles them); every tab, bound to both with ``data_bind``, redraws.
Styles are in ``top.tcss``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import Footer, Header, Input, Static, TabbedContent, TabPane

from gatewatch_dashboard._literal import literal, literal_lines, plain
from gatewatch_dashboard.detail_rows import SORT_KEYS
from gatewatch_dashboard.figures import DEFAULT_WINDOW, WINDOWS, SourceFigures, Window
from gatewatch_dashboard.model import Reading
from gatewatch_dashboard.sources import Source
from gatewatch_dashboard.widgets.blocking import BlockingView
from gatewatch_dashboard.widgets.in_flight import InFlightView
from gatewatch_dashboard.widgets.overview import Overview
from gatewatch_dashboard.widgets.routes import RoutesView
from gatewatch_dashboard.widgets.websockets import WebSocketsView
from gatewatch_dashboard.widgets.workers import WorkersView
from gatewatch_dashboard.window import ReadingLog

INTERVAL = 0.5
TABS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("in-flight", "In flight"),
    ("websockets", "WebSockets"),
    ("routes", "Routes"),
    ("blocking", "Blocking"),
    ("workers", "Workers"),
)


class TopApp(App[None]):
    """Live views of one or more servers, side by side."""

    CSS_PATH = "top.tcss"
    TITLE = "gatewatch top"
    BINDINGS = [
        *(
            Binding(str(n), f"show_tab('{tab}')", label, key_display=str(n))
            for n, (tab, label) in enumerate(TABS, 1)
        ),
        Binding("w", "cycle_window", "Window"),
        Binding("s", "sort", "Sort"),
        Binding("slash", "filter", "Filter route", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("p", "pause", "Pause"),
        Binding("q", "quit", "Quit"),
    ]

    readings: reactive[tuple[Reading, ...]] = reactive(())
    figures: reactive[tuple[SourceFigures, ...]] = reactive(())
    window: reactive[Window] = reactive(DEFAULT_WINDOW)
    route_filter: reactive[str] = reactive("")
    sort_key: reactive[str] = reactive(SORT_KEYS[0])
    paused: reactive[bool] = reactive(False)
    scenario: reactive[str] = reactive("")

    def __init__(self, sources: Sequence[Source], *, interval: float = INTERVAL, poll: bool = True) -> None:
        super().__init__()
        self.sources = list(sources)
        self.interval = interval
        self.poll = poll
        self.kept = ReadingLog()
        self.polls = 0
        # Called once the UI runs (the demo starts its traffic then).
        self.on_start: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static(id="scenario")
        yield Static(id="status")
        # Disabled while hidden, so that it never takes the keys of the tabs.
        yield Input(placeholder="route contains… (Enter to apply, Esc to clear)", id="filter", disabled=True)
        with TabbedContent(initial="overview", id="tabs"):
            bound = {
                "readings": TopApp.readings,
                "figures": TopApp.figures,
                "route_filter": TopApp.route_filter,
                "sort_key": TopApp.sort_key,
            }
            with TabPane("1 Overview", id="overview"):
                yield Overview().data_bind(**bound)
            with TabPane("2 In flight", id="in-flight"):
                yield InFlightView().data_bind(**bound)
            with TabPane("3 WebSockets", id="websockets"):
                yield WebSocketsView().data_bind(**bound)
            with TabPane("4 Routes", id="routes"):
                yield RoutesView().data_bind(**bound)
            with TabPane("5 Blocking", id="blocking"):
                yield BlockingView().data_bind(**bound)
            with TabPane("6 Workers", id="workers"):
                yield WorkersView().data_bind(**bound)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = plain("  ".join(source.name for source in self.sources), limit=None)
        self._show_status()
        if self.poll:
            self.run_worker(self._poll_forever(), exclusive=True, group="poll", name="poll")
        if self.on_start is not None:
            self.on_start()

    async def _poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            if not self.paused:
                await self.poll_once()
            await asyncio.sleep(max(self.interval - (loop.time() - started), 0.05))

    async def poll_once(self) -> None:
        """Read every source once, together, and show what they said."""
        sources = list(self.sources)
        readings = await asyncio.gather(*(self._read(source) for source in sources))
        self.polls += 1
        for reading in readings:
            self.kept.add(reading)
        # The figures first: a tab redrawn for the new readings shows figures as of them.
        self.figures = self.kept.figures(readings, self.window)
        self.readings = tuple(readings)

    async def _read(self, source: Source) -> Reading:
        try:
            return await asyncio.wait_for(source.read(), timeout=max(self.interval * 4, 2.0))
        except Exception as exc:  # noqa: BLE001 - a source must never stop the dashboard
            return Reading(source=source.name, kind="live", error=f"{type(exc).__name__}: {exc}; retrying")

    def watch_readings(self) -> None:
        self._show_status()

    def watch_paused(self) -> None:
        self._show_status()

    def watch_window(self, window: Window) -> None:
        self.figures = self.kept.figures(self.readings, window)
        self._show_status()

    def watch_scenario(self, scenario: str) -> None:
        panel = self.query_one("#scenario", Static)
        panel.update(literal_lines(scenario))
        panel.display = bool(scenario)

    def _show_status(self) -> None:
        failing = sum(1 for reading in self.readings if reading.error is not None)
        parts = [
            f"{len(self.sources)} source{'s' if len(self.sources) != 1 else ''}, every {self.interval:g} s"
        ]
        # The window chosen; each tab's note says how much of it its sources' readings cover.
        parts.append(f"window: {self.window.label} (w)")
        if failing:
            parts.append(f"{failing} not answering (retrying)")
        if self.route_filter:
            parts.append(f"filter: {self.route_filter}")
        parts.append(f"sort: {self.sort_key}")
        if self.paused:
            parts.append("PAUSED (p to resume)")
        status = self.query_one("#status", Static)
        # The filter is typed by the user and may quote a route: data, like the routes.
        status.update(literal("   ".join(parts), limit=None))
        status.set_class(self.paused, "paused")
        status.set_class(bool(failing), "failing")

    # -- keys --------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_cycle_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]

    def action_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self._show_status()

    def action_pause(self) -> None:
        self.paused = not self.paused

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = self.route_filter
        field.disabled = False
        field.add_class("shown")
        field.focus()

    def action_clear_filter(self) -> None:
        self.route_filter = ""
        field = self.query_one("#filter", Input)
        field.remove_class("shown")
        field.disabled = True
        self.set_focus(None)
        self._show_status()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        self.route_filter = event.value.strip()
        event.input.remove_class("shown")
        event.input.disabled = True
        self.set_focus(None)
        self._show_status()

    async def on_unmount(self) -> None:
        for source in self.sources:
            with contextlib.suppress(Exception):  # closing is best effort on the way out
                await source.close()

    def set_scenario(self, text: str) -> None:
        """Name what is running now (the demo): shown in a panel above the tabs."""
        self.scenario = text


def run(sources: Sequence[Source], *, interval: float = INTERVAL) -> None:
    TopApp(sources, interval=interval).run()
