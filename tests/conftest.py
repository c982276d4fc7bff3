from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gatewatch.runtime import Runtime
from tests.support.installed import build_wheel, install_venv

# Every process writes its live snapshot into the user's runtime directory: the tests, and the
# servers they start (which inherit the environment), use one of their own, never the user's.
_RUNTIME_DIR = tempfile.mkdtemp(prefix="gatewatch-tests-runtime-")
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME_DIR
atexit.register(shutil.rmtree, _RUNTIME_DIR, ignore_errors=True)


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry per test: no series leak from one test into another."""
    return CollectorRegistry()


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    """A runtime of the test's own (its monitors, sinks, snapshot files), closed after it."""
    made = Runtime()
    yield made
    made.close()


@pytest.fixture
def no_snapshot_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """No live-view snapshot files unless a test sets their directory itself."""
    for name in ("GATEWATCH_LIVE_DIR", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Tests marked ``anyio`` run on asyncio and on trio."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gatewatch's wheel, built from the checkout once per session."""
    return build_wheel(tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def installed_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and the extras the README installs."""
    return install_venv(tmp_path_factory.mktemp("installed") / "venv", wheel)
