"""Strings that come from the watched app (routes, methods, exception messages, stacks, server
names) or from a source, shown as data: never markup, never a terminal control.

Textual reads a plain ``str`` given to a table cell, a ``Static`` or a ``Label`` as markup, so
Django's ``re_path`` template ``^files/(?P<path>[/\\w.-]+)$`` raised ``MarkupError`` ("closing
tag ... doesn't match any open tag"), ``[a-z-]`` vanished as a style, and ``[@click=app.quit]``
became a live action. Every widget therefore gets these strings as :class:`rich.text.Text`
built by :func:`literal`; a control character (ESC, CR, LF, the bidirectional overrides) is
shown as its escape, highlighted, instead of reaching the terminal.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0, DEL and C1 controls, and the invisible characters that reorder or hide what follows
# (bidirectional embeddings, overrides and isolates: "Trojan Source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
ESCAPE_STYLE = "reverse"
# Longer strings are cut in a table cell or a title, so that one long route (a label may have
# 200 characters; an in-flight route or an error message, more) never pushes every other column
# off the screen. The stack panel shows the route whole.
LIMIT = 80


def escape(character: str) -> str:
    """``"\\x1b"`` for ESC: how a control character is written instead of being sent."""
    named = _NAMED.get(character)
    if named is not None:
        return named
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(value: object, style: str = "", *, limit: int | None = LIMIT) -> Text:
    """``value`` as text shown exactly as it is: no markup read, controls shown as escapes.

    ``limit`` cuts a longer string (with ``…`` and the number of characters left out); None
    shows it whole (the stack panel, which scrolls).
    """
    string = str(value)
    cut = 0
    if limit is not None and len(string) > limit:
        cut = len(string) - limit
        string = string[:limit]
    text = Text(style=style, end="")
    start = 0
    for match in _CONTROL.finditer(string):
        text.append(string[start : match.start()])
        text.append(escape(match.group()), style=ESCAPE_STYLE)
        start = match.end()
    text.append(string[start:])
    if cut:
        text.append(f"…(+{cut})", style="dim")
    return text


def literal_lines(value: str, style: str = "") -> Text:
    """Text of several lines (a panel of ours that quotes an app's message): each line shown as
    :func:`literal`, whole; only the line breaks are followed."""
    return Text("\n", style=style).join(literal(line, style, limit=None) for line in value.split("\n"))


def plain(value: object, *, limit: int | None = LIMIT) -> str:
    """``value`` with its controls escaped, for the places that take a ``str`` as content
    rather than markup (the header's title)."""
    return literal(value, limit=limit).plain
