"""Shared by the OpenTelemetry tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.otel import Otel


@pytest.fixture
def otel() -> Iterator[Otel]:
    # Imported here: without the otel extra (make test-minimal) the modules that use this skip,
    # and this conftest must still import.
    from tests.support.otel import in_memory

    found = in_memory()
    yield found
    found.tracer_provider.shutdown()
    found.meter_provider.shutdown()
