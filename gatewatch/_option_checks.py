"""The checks of single option values, and the conversions from what a user passes.

Each check takes the option's name and its value and raises ``ValueError`` (``TypeError``)
naming both; :mod:`gatewatch.options` declares which option uses which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gatewatch._address import parse_address
from gatewatch._histogram import Series, histogram_choice
from gatewatch._labels import check_max_routes
from gatewatch._option_spec import OptionTypeError
from gatewatch._request_queue import check_header

# -- the checks of single values (each raises naming the option it is given) ----------------


def path(name: str, value: str | None) -> None:
    if value is not None and not value.startswith("/"):
        raise ValueError(f"{name} must start with '/', got {value!r}")


def routes(name: str, max_routes: int) -> None:
    check_max_routes(max_routes)


def token(name: str, value: str | None) -> None:
    # It travels as "Authorization: Bearer <token>": anything a header would mangle could
    # never match, and the endpoint would refuse everyone without saying why.
    if value is not None and (not value or not value.isascii() or not value.isprintable() or " " in value):
        raise ValueError(f"{name} must be a non-empty string of printable ASCII without spaces")


def address(name: str, value: str | None) -> None:
    if value is not None:
        try:
            parse_address(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


def seconds(name: str, value: float | None) -> None:
    if value is not None and not 0.001 <= value <= 60:
        raise ValueError(f"{name} must be between 0.001 and 60 seconds, got {value!r}")


def header(name: str, value: object) -> None:
    # DEFAULT (the interface decides) and None (off) are no header to check.
    if isinstance(value, str):
        check_header(name, value)


def threads(name: str, value: int | None) -> None:
    if value is not None and not 1 <= value <= 100_000:
        raise ValueError(f"{name} must be between 1 and 100000, got {value!r}")


def paths(name: str, value: tuple[str, ...]) -> None:
    for path in value:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"{name} entries must start with '/', got {path!r}")


def histograms(name: str, value: frozenset[str] | None) -> None:
    histogram_choice(value, None)


def series(name: str, value: Series) -> None:
    histogram_choice(None, None, value)


def buckets(name: str, value: tuple[tuple[str, tuple[float, ...]], ...]) -> None:
    histogram_choice(None, dict(value))


def provider(method: str, what: str) -> Any:
    def check(name: str, provider: Any) -> None:
        if provider is not None and not callable(getattr(provider, method, None)):
            raise TypeError(f"{name} must be {what} or None, got {type(provider).__name__}")

    return check


# -- turning what a user passes into what the frozen, hashable dataclass holds ---------------


def to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, Iterable) and not isinstance(value, str | bytes) else value


def to_frozenset(value: Any) -> Any:
    return frozenset(value) if isinstance(value, Iterable) and not isinstance(value, str | bytes) else value


def to_buckets(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    try:
        return tuple(sorted((str(key), tuple(float(b) for b in bounds)) for key, bounds in value.items()))
    except (TypeError, ValueError):
        raise OptionTypeError("buckets must map histogram names to sequences of numbers") from None
