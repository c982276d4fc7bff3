"""A card's numbers laid out at the width they get: label left, value right, in two columns of
rows when the card is wide, and a value moved under its label rather than either being cut."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from gatewatch_dashboard.widgets._format import DIM

# Narrowest column of numbers: the longest label and a value of three durations side by side.
COLUMN_WIDTH = 40
GAP = 3


class NumberRows:
    """Rows of (label, value), as many columns as fit."""

    def __init__(self, rows: Sequence[tuple[str, str]]) -> None:
        self.rows = list(rows)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        columns = 2 if width >= 2 * COLUMN_WIDTH + GAP else 1
        column_width = (width - GAP * (columns - 1)) // columns
        per_column = -(-len(self.rows) // columns)
        blocks = [
            lines_of(self.rows[i * per_column : (i + 1) * per_column], column_width) for i in range(columns)
        ]
        height = max((len(block) for block in blocks), default=0)
        for index in range(height):
            line = Text(end="\n")
            for number, block in enumerate(blocks):
                if number:
                    line.append(" " * GAP)
                line.append_text(block[index] if index < len(block) else Text(" " * column_width))
            yield line


def lines_of(rows: Sequence[tuple[str, str]], width: int) -> list[Text]:
    lines = []
    for label, value in rows:
        room = width - len(label) - len(value)
        if room >= 1:
            lines.append(Text.assemble((label, DIM), " " * room, value))
        else:  # too narrow for both on one line: the value goes under its label, right-aligned
            lines.append(Text(label[:width], style=DIM))
            lines.append(Text(value[-width:].rjust(width)))
    return lines
