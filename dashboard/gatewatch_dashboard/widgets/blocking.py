"""The Blocking tab: which routes held the event loop, where in the application, over the window.

One row per site (route and the application's innermost frame), the most time held first, from
every source's figures (:attr:`SourceFigures.sites`); below, the highlighted site's stack opens
on the application's frames, and ``f`` shows the whole stack as read.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.block_sites import (
    ago_text,
    block_totals,
    loop_sources,
    short_site,
    sorted_sites,
    worst_lag,
)
from gatewatch_dashboard.figures import SiteRow
from gatewatch_dashboard.widgets._fit import fit
from gatewatch_dashboard.widgets._format import DIM, HOT, count, seconds
from gatewatch_dashboard.widgets.stack_panel import no_stack_text, stack_text, worst_text
from gatewatch_dashboard.widgets.tab_view import TabView

COLUMNS = ("route", "site", "count", "total", "worst", "last seen", "source")
NAMES = frozenset({"route", "site", "source"})  # the app's and the user's strings, cut to fit
NUMBERS = frozenset({"count", "total", "worst", "last seen"})
# The two columns the app names, cut to share what the others leave; never narrower than this.
MIN_NAME = 12
MIN_SOURCE = 16
# A DataTable pads each cell by one on both sides; its vertical scrollbar takes two.
CELL_PADDING = 2
SCROLLBAR = 2

# The rows' order: the most time held first.
SORTED = "▼"
NO_STACK = "(no stack)"

SiteKey = tuple[str, str, str]


def lines(parts: list[Text], width: int, gap: str = "   ") -> Text:
    """``parts`` on one line, or on as many as they need: a part is never broken (a number
    wrapped away from its unit reads as another number)."""
    text = Text(end="")
    used = 0
    for part in parts:
        if used and used + len(gap) + part.cell_len > width:
            text.append("\n")
            used = 0
        elif used:
            text.append(gap)
            used += len(gap)
        text.append_text(part)
        used += part.cell_len
    return text


def _key(row: SiteRow) -> SiteKey:
    return (row.source, row.route, row.site)


class BlockingView(TabView):
    """Loop blocks grouped by site, over the window chosen, with the highlighted site's stack."""

    BINDINGS = [
        Binding("f", "toggle_full_stack", "Full stack"),
        # The stack panel takes no focus (see compose): its keys are the tab's.
        Binding("shift+down", "scroll_stack(3)", "Scroll stack", show=False),
        Binding("shift+up", "scroll_stack(-3)", "Scroll stack", show=False),
    ]

    full_stack: reactive[bool] = reactive(False)

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[SiteRow] = []
        self._kinds: dict[str, str] = {}
        self._by_source = False
        self._selected: SiteKey | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="tab-note")
        table: DataTable[RenderableType] = DataTable(id="site-table", cursor_type="row", zebra_stripes=True)
        yield table
        # Not focusable: leaving the tab moves the focus off its table, and a second focusable
        # widget here would take it, which shows this tab again (TabbedContent follows focus).
        with VerticalScroll(id="stack-scroll", can_focus=False):
            yield Static(id="stack")

    # The tab's keys (arrows, f) reach it through its table: focused when the tab is shown, and
    # again once the filter's field gives the focus away.

    def on_show(self) -> None:
        self.query_one("#site-table", DataTable).focus()

    async def watch_route_filter(self) -> None:
        await self.update_view()
        self.call_after_refresh(self._refocus)

    def _refocus(self) -> None:
        if self._active() and self.screen.focused is None:
            self.query_one("#site-table", DataTable).focus()

    def _active(self) -> bool:
        """Whether this is the tab shown (focusing a hidden tab's table would show it)."""
        try:
            pane = self.query_ancestor(TabPane)
            return pane.id is not None and self.query_ancestor(TabbedContent).active == pane.id
        except NoMatches:  # on its own (a test of the view alone): shown if mounted
            return True

    def on_resize(self, event: Resize) -> None:
        self.redraw()

    def watch_full_stack(self, full: bool) -> None:
        self._show_stack()
        # The site is near the end of the whole stack, at the top of the application's frames.
        scroll = self.query_one("#stack-scroll", VerticalScroll)
        self.call_after_refresh(scroll.scroll_end if full else scroll.scroll_home, animate=False)

    def action_toggle_full_stack(self) -> None:
        self.full_stack = not self.full_stack

    def action_scroll_stack(self, lines: int) -> None:
        scroll = self.query_one("#stack-scroll", VerticalScroll)
        scroll.scroll_relative(y=lines, animate=False)

    def redraw(self) -> None:
        # The table's cursor says which site is highlighted, even when its event is still on
        # its way: the same site stays highlighted wherever the new figures put it.
        table = self.query_one("#site-table", DataTable)
        if 0 <= table.cursor_row < min(len(self._rows), table.row_count):
            self._selected = _key(self._rows[table.cursor_row])
        self._kinds = {source.source: source.kind for source in self.figures}
        # One source: its name is in the title and the stack panel, and its column's room is
        # the route's and the site's.
        self._by_source = len(self._kinds) > 1
        self._rows = sorted_sites(self.figures, self.route_filter)
        self.query_one(".tab-note", Static).update(self._note())
        self._fill()
        self._show_stack()

    def _note(self) -> Text:
        totals = block_totals(self._rows)
        if not self.figures:
            return Text.assemble(("Waiting for the first reading.\n", DIM), self.errors())
        parts = [
            Text.assemble(
                literal(self._spans(), "bold", limit=None),
                f": {count(totals.blocks)} loop block{'s' if totals.blocks != 1 else ''} held the loop ",
                (seconds(totals.held), HOT if totals.blocks else ""),
                f" at {len(self._rows)} site{'s' if len(self._rows) != 1 else ''}",
            )
        ]
        lag = worst_lag(self.figures)
        if lag is not None:
            parts.append(Text(f"loop lag p99 {seconds(lag)}"))
        if self.route_filter:
            parts.append(literal(f"filter: {self.route_filter}", "bold", limit=None))
        note = lines(parts, self.size.width - 2)
        note.append("\n")
        note.append_text(self.errors())
        return note

    def _spans(self) -> str:
        """The span of every source with a loop; one when they agree, as they do once each has
        answered for the whole window."""
        spans = dict.fromkeys(source.span.text() for source in loop_sources(self.figures))
        return " / ".join(spans)

    def _widths(self, cells: list[list[Text]]) -> tuple[int, int, int]:
        """How many cells the route, site and source columns get: what the number columns
        leave of the view's width; none is cut when all fit, the source first when not."""
        named = {"route": 0, "site": 1, "source": len(COLUMNS) - 1}
        if not self._by_source:
            del named["source"]
        fixed = (
            sum(
                max([len(name), *(row[index].cell_len for row in cells)]) + CELL_PADDING
                for index, name in enumerate(COLUMNS)
                if name not in NAMES
            )
            + len(SORTED)
            + 1
        )
        room = self.size.width - fixed - len(named) * CELL_PADDING - SCROLLBAR
        route, site, source = (
            max([len(name), *(row[index].cell_len for row in cells)]) if name in named else 0
            for name, index in (("route", 0), ("site", 1), ("source", len(COLUMNS) - 1))
        )
        if route + site + source <= room:
            return route, site, source
        source = min(source, max(MIN_SOURCE, room - route - site)) if source else 0
        room = max(room - source, 2 * MIN_NAME)
        if route + site <= room:
            return route, site, source
        # Without the files' directories (as _cells shows a site that does not fit whole).
        site = max(
            [
                len("site"),
                *(literal(short_site(row.site, parts=1)).cell_len for row in self._rows if row.site),
            ]
        )
        route_width = min(route, max(MIN_NAME, room - site, room * 2 // 5))
        return route_width, max(MIN_NAME, room - route_width), source

    def _cells(self, row: SiteRow, widths: tuple[int, int, int] | None) -> list[Text]:
        kind = self._kinds.get(row.source, "live")
        site = short_site(row.site) if row.site else ""
        route_cell = fit(row.route, widths[0], HOT) if widths else literal(row.route, HOT, limit=None)
        if not row.site:
            says = no_stack_text(kind)
            site_cell = Text(says if not widths or len(says) <= widths[1] else NO_STACK, style=DIM)
        elif widths:
            # The file's directory goes first: the file, line and function say where.
            shorter = short_site(row.site, parts=1)
            site_cell = fit(site if literal(site).cell_len <= widths[1] else shorter, widths[1])
        else:
            site_cell = literal(site, limit=None)
        numbers = [count(row.count), seconds(row.total), worst_text(row), ago_text(row.last_seen_ago)]
        return [
            route_cell,
            site_cell,
            *(Text(value, justify="right") for value in numbers),
            fit(row.source, widths[2]) if widths else literal(row.source, limit=None),
        ]

    def _fill(self) -> None:
        table = self.query_one("#site-table", DataTable)
        widths = self._widths([self._cells(row, None) for row in self._rows])
        table.clear(columns=True)
        columns = COLUMNS if self._by_source else COLUMNS[:-1]
        for name in columns:
            label = f"{name} {SORTED}" if name == "total" else name
            table.add_column(Text(label, justify="right") if name in NUMBERS else label, key=name)
        for row in self._rows:
            table.add_row(*self._cells(row, widths)[: len(columns)])
        keys = [_key(row) for row in self._rows]
        if self._selected in keys:
            table.move_cursor(row=keys.index(self._selected), animate=False)
        elif self._rows:
            self._selected = keys[0]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self._rows):
            self._selected = _key(self._rows[event.cursor_row])
        self._show_stack()

    def selected(self) -> SiteRow | None:
        """The site whose stack the panel shows."""
        return next((row for row in self._rows if _key(row) == self._selected), None)

    def _show_stack(self) -> None:
        row = self.selected()
        kind = self._kinds.get(row.source, "live") if row else "live"
        self.query_one("#stack", Static).update(
            stack_text(row, kind=kind, full=self.full_stack, empty=self._empty())
        )

    def _empty(self) -> str:
        """What the panel says with no row to show."""
        if not self.figures:
            return ""
        if self.route_filter:
            return f"No loop blocks in {self._spans()} on a route containing {self.route_filter!r}."
        return f"No loop blocks in {self._spans()}: no synchronous step held the loop past the threshold."
