from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry


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
