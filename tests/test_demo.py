"""``gatewatch demo`` starts both servers, drives them and prints the comparison, then exits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _cells(out: str, label: str) -> list[str]:
    """The cells of a summary row: split on runs of 3+ spaces (cells hold single spaces)."""
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return re.split(r"\s{3,}", line.strip())[1:]


def test_demo_runs_both_interfaces_and_reports_them() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gatewatch.cli", "demo", "--seconds", "1", "--clients", "6"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    print(completed.stdout)
    print(completed.stderr, file=sys.stderr)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    header = next(line for line in out.splitlines() if "ASGI (uvicorn)" in line)
    assert "WSGI (gunicorn" in header
    requests = _cells(out, "requests (server)")
    assert len(requests) == 2
    assert all(int(cell.replace(",", "")) > 0 for cell in requests), requests
    errors = _cells(out, "5xx responses / exceptions")
    # /error fails on both: a 500 each time, and the exception is counted.
    for cell in errors:
        five_xx, exceptions = (int(part.replace(",", "")) for part in cell.split(" / "))
        assert five_xx > 0 and exceptions > 0, errors
    assert len(_cells(out, "bytes out")) == 2
    for route in ("/fast", "/slow", "/blocking", "/stream", "/large", "/error"):
        assert re.search(rf"^\s+{re.escape(route)}\s", out, re.MULTILINE), route
    assert "What differs:" in out
    assert "held the event loop" in out


def test_demo_from_elsewhere_finds_the_project(tmp_path: Path) -> None:
    """Run outside the checkout: --root points at it (examples/ is not installed)."""
    completed = subprocess.run(
        [sys.executable, "-m", "gatewatch.cli", "demo", "--seconds", "0.5", "--clients", "2",
         "--root", str(ROOT)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "requests (server)" in completed.stdout


def test_demo_rejects_unbounded_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gatewatch.cli", "demo", "--seconds", "3600"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 2
    assert "--seconds" in completed.stderr
