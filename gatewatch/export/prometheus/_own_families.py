"""Who renders gatewatch's own families in a scrape.

gatewatch's ``/metrics`` renders the aggregator's families itself, from its tables
(:mod:`gatewatch.export.prometheus._render`), and leaves every other collector of the registry
(a user's own metrics, the process and platform collectors) to prometheus-client. While it has
prometheus-client render the registry, the aggregator's ``collect()`` yields nothing and
claims the scrape instead (:func:`claim`), so that its families are rendered once, and the
scrape learns which aggregators the registry holds without reading the registry's internals.
Anyone else calling ``generate_latest`` on the registry gets the aggregator's families as ever.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# The collectors that claimed the scrape being rendered in this context; None outside one.
_CLAIMS: ContextVar[list[Any] | None] = ContextVar("gatewatch_own_families", default=None)


@contextmanager
def rendering_own() -> Iterator[list[Any]]:
    """While inside, a claiming collector's ``collect()`` adds itself to the list yielded and
    yields no family."""
    claims: list[Any] = []
    token = _CLAIMS.set(claims)
    try:
        yield claims
    finally:
        _CLAIMS.reset(token)


def rendering() -> bool:
    """Whether a scrape of gatewatch's is rendering the registry in this context."""
    return _CLAIMS.get() is not None


def claim(collector: object) -> bool:
    """In a collector's ``collect()``: whether gatewatch's exposition renders it itself (it is
    then noted, once)."""
    claims = _CLAIMS.get()
    if claims is None:
        return False
    if collector not in claims:
        claims.append(collector)
    return True
