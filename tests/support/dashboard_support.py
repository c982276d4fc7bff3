"""Shared pieces of the dashboard tests: the app on the recorded live views, and its screen as text."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from gatewatch_dashboard.app import TopApp
from gatewatch_dashboard.sources import RecordedSource, Source
from textual.pilot import Pilot
from textual.widgets import DataTable

from tests.support.live_fixtures import ASGI_FILE, ASGI_LATER_FILE, WSGI_FILE, WSGI_LATER_FILE

ASGI_SOURCE = "127.0.0.1:8001"
WSGI_SOURCE = "127.0.0.1:8002"
SIZE = (160, 44)


def recorded_sources() -> list[Source]:
    """Each recorded view, then the same 30 s later (more counted): two polls give a window."""
    return [
        RecordedSource(ASGI_SOURCE, [ASGI_FILE.read_bytes(), ASGI_LATER_FILE.read_bytes()]),
        RecordedSource(WSGI_SOURCE, [WSGI_FILE.read_bytes(), WSGI_LATER_FILE.read_bytes()]),
    ]


def recorded_app(sources: Sequence[Source] | None = None, **kwargs: object) -> TopApp:
    """The dashboard on the recorded views, not polling by itself: tests call ``poll_once``."""
    kwargs.setdefault("poll", False)
    return TopApp(recorded_sources() if sources is None else sources, **kwargs)  # type: ignore[arg-type]


# Textual's SVG export puts a terminal cell 12.2 units wide.
CELL_WIDTH = 12.2
_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>')


def terminal_text(app: TopApp) -> str:
    """Every character the screen's segments send to the terminal, controls included (the SVG
    export leaves controls out, so it cannot show one reaching the terminal)."""
    strips = app.screen._compositor.render_strips()  # what the driver writes
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def screen_text(app: TopApp) -> str:
    """What the terminal shows, as lines of text (from Textual's SVG export)."""
    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    for match in _TEXT.finditer(svg):
        rows.setdefault(float(match[2]), []).append(
            (float(match[1]), html.unescape(match[3]).replace("\xa0", " "))
        )
    lines = []
    for y in sorted(rows):
        line = ""
        for x, text in sorted(rows[y]):
            column = round(x / CELL_WIDTH)
            line = line.ljust(column) + text
        lines.append(line.rstrip())
    return "\n".join(lines)


def rows(app: TopApp, selector: str = "DataTable") -> list[list[str]]:
    """The cells of the first table matching ``selector`` in the active tab, as the text shown."""
    pane = app.query_one(f"#{app.query_one('TabbedContent').active}")  # type: ignore[attr-defined]
    table: DataTable[Any] = pane.query_one(selector, DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


async def started(pilot: Pilot[None], polls: int = 1) -> None:
    """The app once it has polled its sources (``polls`` times) and drawn what they said."""
    app = pilot.app
    assert isinstance(app, TopApp)
    for _ in range(polls):
        await app.poll_once()
    await pilot.pause()


def timeline_sources() -> list[Source]:
    """The recorded views read every 5 s over 30 s (tests.support.live_timeline)."""
    from tests.support.live_timeline import asgi_timeline, wsgi_timeline

    return [RecordedSource(ASGI_SOURCE, asgi_timeline()), RecordedSource(WSGI_SOURCE, wsgi_timeline())]


async def read_timeline(pilot: Pilot[None]) -> None:
    """Every reading of :func:`timeline_sources`: figures over 30 s, charts of six steps."""
    from tests.support.live_timeline import STEPS

    await started(pilot, polls=STEPS + 1)


async def read_twice(pilot: Pilot[None]) -> None:
    """The app on the recorded views and the same 30 s later: its figures cover 30 s."""
    await started(pilot, polls=2)
