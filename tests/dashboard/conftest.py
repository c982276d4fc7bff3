"""Textual runs on asyncio: the anyio marker's backend for every dashboard test."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio."""
    return "asyncio"
