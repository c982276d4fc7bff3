"""Shared by the WSGI tests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from wsgiref.validate import WSGIWarning

import pytest


@pytest.fixture
def wsgi_warnings_are_errors() -> Iterator[None]:
    """wsgiref's validator warns on what PEP 3333 forbids: an error here."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        yield
