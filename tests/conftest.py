from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry per test: no series leak from one test into another."""
    return CollectorRegistry()
