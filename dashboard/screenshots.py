"""Write the README's screenshots of ``gatewatch top``: one SVG per tab, from Textual's own
screenshot of the dashboard reading the recorded live views (``tests/fixtures/``).

The recorded views are an ASGI server (uvicorn) and a WSGI one (gunicorn, two workers) read
every 5 s for 30 s (``tests/support/live_timeline.py``): what a user sees after half a minute.
Run from a checkout with the ``dashboard`` extra installed, after a change to the dashboard::

    python dashboard/screenshots.py          # rewrite docs/top/*.svg
    python dashboard/screenshots.py --check  # exit 1 when a file differs from what it would write

``tests/dashboard/test_dashboard_screenshots.py`` fails when the committed files and this differ.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "top"
SIZE = (120, 40)


async def _shoot() -> dict[str, str]:
    """Every tab of one dashboard, once it has read the recorded views: name -> SVG."""
    from gatewatch_dashboard.app import TopApp

    from tests.support.dashboard_support import read_timeline, recorded_app, timeline_sources

    app: TopApp = recorded_app(timeline_sources())
    shots = {}
    async with app.run_test(size=SIZE) as pilot:
        await read_timeline(pilot)
        for tab, label in _tabs():
            app.action_show_tab(tab)
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()  # the tab's underline slides to it
            svg = app.export_screenshot(title=f"gatewatch top — {label}")
            # Rich names the SVG's classes after a hash that changes from run to run: a fixed
            # name keeps the files the same when the screen is.
            shots[f"{tab}.svg"] = re.sub(r"terminal-\d+", f"terminal-top-{tab}", svg)
    return shots


def _tabs() -> tuple[tuple[str, str], ...]:
    from gatewatch_dashboard.app import TABS

    return TABS


def render() -> dict[str, str]:
    """Every screenshot's file name and its SVG text."""
    return asyncio.run(_shoot())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when a file differs, write nothing")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # tests.support: the recorded views and how the tests start the app
    stale = []
    for name, text in render().items():
        path = TARGET / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path.relative_to(ROOT))
    if stale:
        print(f"out of date (run python dashboard/screenshots.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
