"""The docs site builds with ``mkdocs build --strict`` (a broken link or anchor fails it), and
its references, rendered from the code by ``docs/hooks.py``, hold every metric and option."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gatewatch.catalogue import METRICS
from gatewatch.catalogue_docs import METRICS_MARKER, OPTIONS_MARKER
from gatewatch.options import ENVIRONMENT, Options
from gatewatch.options_docs import reference_rows
from tests.support.traffic import ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(directory)],
        cwd=ROOT,
        # Material's banner about its successor is not a warning of the build's.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return directory


def _page(site: Path, name: str) -> str:
    return html.unescape((site / name / "index.html").read_text(encoding="utf-8"))


def test_every_metric_has_its_section(site: Path) -> None:
    page = _page(site, "metrics")
    for spec in METRICS:
        assert f'id="{spec.name}"' in page, spec.name
        assert spec.otel_name in page, spec.otel_name
    assert METRICS_MARKER not in page


def test_every_option_and_variable_is_in_the_reference(site: Path) -> None:
    page = _page(site, "options")
    rows = re.findall(r"<tr>\s*<td><code>(\w+)</code></td>", page)
    assert rows == [field for field in Options.__dataclass_fields__], rows
    for variable in ENVIRONMENT:
        assert f"<code>{variable}</code>" in page, variable
    assert OPTIONS_MARKER not in page


def test_every_option_says_what_it_does() -> None:
    """The text comes from the code: an option declared without one would be a blank cell."""
    blank = [row.name for row in reference_rows() if not row.doc.strip()]
    assert not blank, blank


def test_every_page_is_in_the_site(site: Path) -> None:
    pages = {path.stem for path in (ROOT / "docs").glob("*.md")}
    built = {"index"} | {path.parent.name for path in site.glob("*/index.html")}
    assert pages <= built, pages - built
