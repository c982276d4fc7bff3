"""How the tabs write numbers: seconds, shares, sizes, ages; and the two styles they use."""

from __future__ import annotations

HOT = "bold red"
DIM = "dim"


def seconds(value: float | None) -> str:
    """Milliseconds below 10 s, seconds above; ``-`` when unknown."""
    if value is None:
        return "-"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    if 0 < value < 0.001:
        return f"{value * 1000:.2f} ms"
    return f"{value * 1000:.1f} ms"


def share(value: float | None) -> str:
    if value is None:
        return "-"
    value = min(value, 1.0)
    return f"{value:.1%}" if 0 < value < 0.1 else f"{value:.0%}"


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def size(value: int) -> str:
    for unit, step in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= step:
            return f"{value / step:.1f} {unit}"
    return f"{value} B"


def ago(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s ago"
