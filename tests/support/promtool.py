"""``promtool check metrics`` (Debian's prometheus package) on every exposition the tests read.

CI installs promtool; on a machine without it the check is skipped, except where a test
asks for it outright (:func:`promtool_path` with ``required=True``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

_checked: set[str] = set()


def promtool_path(*, required: bool = False) -> str | None:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if found is None and required:
        pytest.skip("promtool is not installed")
    return found


def check_metrics(text: str) -> None:
    """Fail the test when promtool rejects ``text`` (each distinct text is checked once)."""
    if "# TYPE" not in text:
        return
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest in _checked:
        return
    promtool = promtool_path()
    if promtool is None:
        return
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30, check=False
    )
    output = (checked.stdout + checked.stderr).decode()
    assert checked.returncode == 0, f"promtool check metrics rejected the scrape:\n{output}"
    _checked.add(digest)
