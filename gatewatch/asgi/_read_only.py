"""ASGI scopes and messages as the compiled build reads them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def read_only(message: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` itself when it is a dict (as servers and frameworks send them), else a copy
    to read: the compiled build reads a dict by its C API rather than by calling its methods.
    Only read: what the application and the server exchange is never this copy."""
    return message if type(message) is dict else dict(message)
