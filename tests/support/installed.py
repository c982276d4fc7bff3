"""gatewatch as a pip user gets it: a wheel built from the checkout, installed in a fresh
virtual environment. Built once per test session (tests/conftest.py's ``wheel`` and
``installed_venv`` fixtures) and shared by tests/test_packaging.py and
tests/test_readme_commands.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.checkout import ROOT

# The extras the README's install lines name: one environment answers all of them.
EXTRAS = "demo,dashboard"
# What a user's shell would not carry from this test run into a fresh environment.
SCRUBBED = frozenset(
    {
        "PYTHONPATH",
        "DJANGO_SETTINGS_MODULE",
        "VIRTUAL_ENV",
        "PROMETHEUS_MULTIPROC_DIR",
        "prometheus_multiproc_dir",
        "GATEWATCH_LIVE_DIR",
    }
)


def build_wheel(source_parent: Path, directory: Path) -> Path:
    # Built from a copy: setuptools leaves build/ and *.egg-info in the tree it builds, and a
    # build/ left from an earlier run would carry modules since removed into this wheel.
    source = source_parent / "gatewatch"
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
            # make docs' output
            "site",
            # pytest-cov's data files, which its parallel workers write and remove as they go
            ".coverage*",
            "htmlcov",
            "snapshot_report.html",
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(directory), str(source)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (built,) = directory.glob("gatewatch-*.whl")
    return built


def install_venv(venv: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel and its extras (their dependencies from the
    configured package index)."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # --no-compile: pip byte-compiles every module it installs (Django's, Textual's, ...), most of
    # which no test imports; Python compiles the ones imported, on first import, as usual.
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--disable-pip-version-check",
            f"{wheel}[{EXTRAS}]",
        ],
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def user_environment(venv: Path | None = None) -> dict[str, str]:
    """This process' environment without what ties it to the checkout; with ``venv``, its
    ``bin`` first on PATH, as after ``. .venv/bin/activate``."""
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return env
