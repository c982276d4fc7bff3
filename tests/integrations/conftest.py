"""Shared by the integration tests."""

from __future__ import annotations

import pytest

from gatewatch import _multiprocess_dir as md


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the environment that would set up multiprocess mode or the worker count."""
    for name in (
        md.ENV_VAR,
        md.ENV_VAR.lower(),
        md.PRIVATE_ENV_VAR,
        "GATEWATCH_LIVE_DIR",
        "WEB_CONCURRENCY",
        "GUNICORN_CMD_ARGS",
    ):
        monkeypatch.delenv(name, raising=False)
