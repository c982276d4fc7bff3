"""Plain-text tables for what the command line prints (the demo, the benchmarks)."""

from __future__ import annotations

from collections.abc import Sequence

from gatewatch._printable import printable


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows under a header and a rule; the first column left-aligned, the others right-aligned.
    A cell (a route, a server's name: the app's strings) is printed with its controls escaped."""
    table = [[printable(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for row in table:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "   ".join(cells).rstrip())
    lines.insert(1, "  " + "-" * (sum(widths) + 3 * (len(widths) - 1)))
    return lines
