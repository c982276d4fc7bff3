"""What ``pip install gatewatch`` gives a user: every package, the demo apps, the licence, and
``gatewatch demo`` working from an empty directory in a fresh environment."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from gatewatch._grafana_files import PATTERNS, shipped_files
from tests.support.installed import user_environment
from tests.support.traffic import ROOT

APPS = "gatewatch.demo.apps"
GRAFANA = "gatewatch.grafana"


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
        | _packages_under(ROOT / "grafana", GRAFANA)
        | _packages_under(ROOT / "dashboard" / "gatewatch_dashboard", "gatewatch_dashboard")
    )
    listed = set(setuptools["packages"])
    assert not expected - listed, f"add to [tool.setuptools] packages: {sorted(expected - listed)}"
    assert not listed - expected, f"no such package: {sorted(listed - expected)}"
    assert setuptools["package-dir"] == {
        APPS: "examples",
        GRAFANA: "grafana",
        "gatewatch_dashboard": "dashboard/gatewatch_dashboard",
    }
    # gatewatch export-grafana writes what the wheel carries: the same globs in both places.
    assert tuple(setuptools["package-data"][GRAFANA]) == PATTERNS


def test_core_dependencies_are_what_a_web_worker_imports() -> None:
    project = _pyproject()["project"]
    names = [re.split(r"[<>=\[ ]", requirement)[0] for requirement in project["dependencies"]]
    assert names == ["prometheus-client", "asgiref"]
    extras = project["optional-dependencies"]
    assert {"otel", "otel-otlp", "django", "channels", "demo", "dashboard"} <= set(extras)
    assert not any("channels" in requirement for requirement in extras["django"])


@pytest.mark.slow
def test_wheel_ships_the_demo_apps_the_boards_and_the_licence(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")
        ]
    for path in ROOT.joinpath("examples").rglob("*.py"):
        assert "gatewatch/demo/apps/" + path.relative_to(ROOT / "examples").as_posix() in names, path
    assert "gatewatch/py.typed" in names
    # The boards, provisioning and rules, as in the checkout's grafana/ (the generator's modules
    # aside: they ship as modules of the package, and only a checkout regenerates the files).
    grafana = {n.removeprefix("gatewatch/grafana/") for n in names if n.startswith("gatewatch/grafana/")}
    assert {n for n in grafana if not n.endswith(".py")} == set(shipped_files()), sorted(grafana)
    assert {"dashboards/gatewatch-overview.json", "rules/gatewatch-alerts.yml"} <= grafana
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    # examples/ ships only under its package name, never as a top-level `examples`.
    assert not any(n.startswith(("examples/", "tests/", "bench/")) for n in names)
    core = [line for line in requires if "extra ==" not in line]
    assert not any("opentelemetry" in line or "django" in line.lower() for line in core), core
    # Built without GATEWATCH_MYPYC: the pure wheel, for any platform, even from a checkout
    # where make compiled left extension modules beside the sources.
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    assert not any(n.endswith((".so", ".pyd", ".c")) for n in names), sorted(names)
    assert "gatewatch/_build.py" in names and "gatewatch/record.py" in names


def test_cibuildwheel_builds_compiled_wheels_and_smoke_tests_them() -> None:
    """The other platforms' compiled wheels (docs/install.md): each built with GATEWATCH_MYPYC=1
    and tested with the smoke test make wheels runs here."""
    cibuildwheel = _pyproject()["tool"]["cibuildwheel"]
    assert cibuildwheel["environment"] == {"GATEWATCH_MYPYC": "1"}
    script, build = cibuildwheel["test-command"].split()[-2:]
    assert (script, build) == ("{project}/.ci/wheel_smoke.py", "compiled")
    assert (ROOT / ".ci" / "wheel_smoke.py").is_file()
    assert set(cibuildwheel["linux"]["archs"]) == {"x86_64", "aarch64"}
    assert _pyproject()["project"]["requires-python"] == ">=3.11"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fresh_environment_runs_the_demo_from_an_empty_directory(
    installed_venv: Path, tmp_path: Path
) -> None:
    """The acceptance run: the wheel with its demo extra in a new virtual environment (its
    dependencies from the configured package index), then ``gatewatch demo --app all`` where
    there is no checkout, no PYTHONPATH and no settings module."""
    venv = installed_venv
    python = venv / "bin" / "python"
    empty = tmp_path / "empty"
    empty.mkdir()
    env = user_environment()

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


@pytest.mark.slow
def test_installed_gatewatch_writes_the_boards_and_rules(installed_venv: Path, tmp_path: Path) -> None:
    """A pip user has no checkout: ``gatewatch export-grafana`` writes the checkout's grafana/
    files (the boards, provisioning, rules and their unit test), byte for byte."""
    command = [str(installed_venv / "bin" / "gatewatch"), "export-grafana", "grafana"]
    run = subprocess.run(
        command, cwd=tmp_path, env=user_environment(), capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    written = sorted(path.relative_to(tmp_path / "grafana").as_posix() for path in tmp_path.rglob("*.*"))
    assert written == sorted(shipped_files()), written
    assert len([name for name in written if name.startswith("dashboards/")]) == 4
    for name in written:
        assert (tmp_path / "grafana" / name).read_bytes() == (ROOT / "grafana" / name).read_bytes(), name
    assert run.stdout.splitlines() == [f"grafana/{name}" for name in written]
