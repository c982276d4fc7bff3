"""The README's Quick start code is what a user pastes: it passes ``mypy --strict`` and serves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.traffic import ROOT

README = ROOT / "README.md"


def quick_start_blocks() -> list[str]:
    """The fenced ``python`` blocks between "## Quick start" and the next section that are a
    whole file (``# myapp.py``); Django's is a line of a project's settings."""
    text = README.read_text()
    start = text.index("\n## Quick start\n")
    end = text.index("\n## ", start + 1)
    blocks = re.findall(r"^```python\n(.*?)^```$", text[start:end], re.DOTALL | re.MULTILINE)
    return [block for block in blocks if block.startswith("# myapp.py\n")]


@pytest.fixture(scope="module")
def snippets(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    blocks = quick_start_blocks()
    # One for Starlette/FastAPI, one for Flask: the two kinds of app a plain install serves.
    assert len(blocks) >= 2, blocks
    directory = tmp_path_factory.mktemp("readme")
    paths = []
    for index, block in enumerate(blocks):
        path = directory / f"quick_start_{index}.py"
        path.write_text(block)
        paths.append(path)
    return paths


def test_quick_start_passes_mypy_strict(snippets: list[Path], tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")  # not the project's: no Django plugin, no `files`
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            # gatewatch's own errors are `make lint`'s business; these files are checked in full.
            "--follow-imports",
            "silent",
            *map(str, snippets),
        ],
        # The editable install's import hook is invisible to mypy: point it at the checkout.
        env={**os.environ, "MYPYPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


# Imports each snippet as its own module (as `uvicorn myapp:application` would) and sends a
# request and a scrape through what it serves.
SERVE = textwrap.dedent(
    """
    import importlib.util, sys
    from gatewatch import GatewatchASGI, GatewatchWSGI

    path = sys.argv[1]
    spec = importlib.util.spec_from_file_location("myapp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    application = module.application
    if isinstance(application, GatewatchASGI):
        from starlette.testclient import TestClient

        with TestClient(application) as client:
            hello, metrics = client.get("/"), client.get("/metrics")
            print(hello.status_code, hello.text.strip(), metrics.status_code)
            print(metrics.text)
    else:
        assert isinstance(application, GatewatchWSGI), application
        from werkzeug.test import Client

        client = Client(application)
        # buffered: read to the end (and closed), so recorded before the scrape is asked for.
        hello = client.get("/", buffered=True)
        metrics = client.get("/metrics", buffered=True)
        print(hello.status_code, hello.get_data(as_text=True).strip(), metrics.status_code)
        print(metrics.get_data(as_text=True))
    """
)


def test_quick_start_serves_and_records(snippets: list[Path], tmp_path: Path) -> None:
    # Single-process, as a plain `uvicorn myapp:application` runs.
    env = {key: value for key, value in os.environ.items() if key.lower() != "prometheus_multiproc_dir"}
    for path in snippets:
        completed = subprocess.run(
            [sys.executable, "-c", SERVE, str(path)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        first, scrape = completed.stdout.split("\n", 1)
        assert first == "200 hello 200", completed.stdout
        assert re.search(
            r'^gatewatch_http_request_duration_seconds_count\{[^}]*route="/"[^}]*status="200"[^}]*\} 1\.0$',
            scrape,
            re.MULTILINE,
        ), scrape


def test_readme_is_a_front_page() -> None:
    """The reference is the docs site; the README shows what gatewatch is and how to start."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, len(lines)
