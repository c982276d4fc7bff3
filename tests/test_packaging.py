"""What ``pip install gatewatch`` gives a user: every package, the demo apps, the licence, and
``gatewatch demo`` working from an empty directory in a fresh environment."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.traffic import ROOT

APPS = "gatewatch.demo.apps"


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def _packages_under(directory: Path, name: str) -> set[str]:
    """Dotted names of ``directory`` (called ``name``) and every package below it."""
    found = set()
    for init in directory.rglob("__init__.py"):
        parts = init.parent.relative_to(directory).parts
        found.add(".".join((name, *parts)))
    return found


def test_pyproject_lists_every_package() -> None:
    """The packages are listed by hand (the demo apps are examples/ under another name), so a new
    subpackage must be added there, or the wheel silently leaves it out."""
    setuptools = _pyproject()["tool"]["setuptools"]
    expected = (
        _packages_under(ROOT / "gatewatch", "gatewatch")
        | _packages_under(ROOT / "examples", APPS)
        | _packages_under(ROOT / "dashboard" / "gatewatch_dashboard", "gatewatch_dashboard")
    )
    listed = set(setuptools["packages"])
    assert not expected - listed, f"add to [tool.setuptools] packages: {sorted(expected - listed)}"
    assert not listed - expected, f"no such package: {sorted(listed - expected)}"
    assert setuptools["package-dir"] == {
        APPS: "examples",
        "gatewatch_dashboard": "dashboard/gatewatch_dashboard",
    }


def test_core_dependencies_are_what_a_web_worker_imports() -> None:
    project = _pyproject()["project"]
    names = [re.split(r"[<>=\[ ]", requirement)[0] for requirement in project["dependencies"]]
    assert names == ["prometheus-client", "asgiref"]
    extras = project["optional-dependencies"]
    assert {"otel", "otel-otlp", "django", "channels", "demo", "dashboard"} <= set(extras)
    assert not any("channels" in requirement for requirement in extras["django"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools leaves build/ and *.egg-info in the tree it builds, and a
    # build/ left from an earlier run would carry modules since removed into this wheel.
    source = tmp_path_factory.mktemp("source") / "gatewatch"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".*_cache",
            ".benchmarks",
        ),
    )
    directory = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(directory), str(source)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (built,) = directory.glob("gatewatch-*.whl")
    return built


@pytest.mark.slow
def test_wheel_ships_the_demo_apps_and_the_licence(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")
        ]
    for path in ROOT.joinpath("examples").rglob("*.py"):
        assert "gatewatch/demo/apps/" + path.relative_to(ROOT / "examples").as_posix() in names, path
    assert "gatewatch/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    # examples/ ships only under its package name, never as a top-level `examples`.
    assert not any(n.startswith(("examples/", "tests/", "bench/")) for n in names)
    core = [line for line in requires if "extra ==" not in line]
    assert not any("opentelemetry" in line or "django" in line.lower() for line in core), core


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fresh_environment_runs_the_demo_from_an_empty_directory(wheel: Path, tmp_path: Path) -> None:
    """The acceptance run: the wheel with its demo extra in a new virtual environment (its
    dependencies from the configured package index), then ``gatewatch demo --app all`` where
    there is no checkout, no PYTHONPATH and no settings module."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[demo]"],
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    scrubbed = {
        "PYTHONPATH",
        "DJANGO_SETTINGS_MODULE",
        "VIRTUAL_ENV",
        "PROMETHEUS_MULTIPROC_DIR",
        "prometheus_multiproc_dir",
        "GATEWATCH_LIVE_DIR",
    }
    env = {key: value for key, value in os.environ.items() if key not in scrubbed}

    imported = "import gatewatch, gatewatch.demo.apps as apps; print(gatewatch.__file__, apps.__file__)"
    where = subprocess.run(
        [str(python), "-c", imported],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert all(path.startswith(str(venv)) for path in where.stdout.split()), where.stdout
    # The core install carries no OpenTelemetry: it is the otel extra.
    otel = subprocess.run([str(python), "-c", "import opentelemetry"], capture_output=True, timeout=60)
    assert otel.returncode != 0

    demo = subprocess.run(
        [str(venv / "bin" / "gatewatch"), "demo", "--app", "all", "--seconds", "0.5", "--clients", "2"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    print(demo.stdout)
    print(demo.stderr, file=sys.stderr)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "gatewatch.demo.apps.starlette_app:wrapped under uvicorn" in demo.stdout
    assert "gatewatch.demo.apps.django_project.wsgi:application under gunicorn" in demo.stdout
    assert demo.stdout.count("requests (server)") == 2
    assert list(empty.iterdir()) == []
    ports = [int(p) for p in re.findall(r"driving \w+ at http://127\.0\.0\.1:(\d+) ", demo.stdout)]
    assert len(ports) == 4, demo.stdout
    assert not any(_listening(port) for port in ports), ports
