"""The README's screenshots of ``gatewatch top``: one per tab, what ``dashboard/screenshots.py``
writes from the recorded views (run it after a change to the dashboard)."""

from __future__ import annotations

import re
import subprocess
import sys

from gatewatch_dashboard.app import TABS

from tests.support.traffic import ROOT

SCRIPT = ROOT / "dashboard" / "screenshots.py"


def test_the_screenshots_are_what_the_command_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr


def test_the_readme_shows_one_screenshot_per_tab() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\(docs/top/([\w-]+)\.svg\)", readme)
    assert sorted(set(shown)) == sorted(tab for tab, _ in TABS)
    for tab, label in TABS:
        svg = (ROOT / "docs" / "top" / f"{tab}.svg").read_text(encoding="utf-8")
        assert f"gatewatch top — {label}".replace(" ", "&#160;") in svg
