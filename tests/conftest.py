from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
from prometheus_client import CollectorRegistry

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
def no_snapshot_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """No live-view snapshot files unless a test sets their directory itself."""
    for name in ("GATEWATCH_LIVE_DIR", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Tests marked ``anyio`` run on asyncio and on trio."""
    backend: str = request.param
    return backend
