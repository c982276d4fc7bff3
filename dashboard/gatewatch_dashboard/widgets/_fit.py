"""An app's string cut to a column's width, saying how much was left out.

:func:`gatewatch_dashboard._literal.literal` cuts at a number of characters; a column has a
width in cells, and an escaped control (``\\x1b``) or a wide character takes more than one.
"""

from __future__ import annotations

from rich.text import Text

from gatewatch_dashboard._literal import literal


def fit(value: str, width: int, style: str = "") -> Text:
    """``value`` as :func:`literal` shows it, cut with ``…(+N)`` so that it takes at most
    ``width`` cells (never less than the marker and one character)."""
    whole = literal(value, style, limit=None)
    if whole.cell_len <= width:
        return whole
    # Each step drops at least one cell; the marker's own width is counted in.
    limit = min(len(value) - 1, max(width, 1))
    text = literal(value, style, limit=limit)
    while limit > 1 and text.cell_len > width:
        limit -= max(1, (text.cell_len - width) // 2)
        limit = max(limit, 1)
        text = literal(value, style, limit=limit)
    return text
