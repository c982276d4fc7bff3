"""The Overview tab: per source and interface, side by side."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalScroll

from gatewatch_dashboard.widgets.interface_card import InterfaceCard
from gatewatch_dashboard.widgets.tab_view import TabView


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
