"""The stack of one loop-block site: the application's frames first, the whole stack on demand.

Every frame, route and file name is the app's string: shown whole (the panel wraps and
scrolls) with :func:`literal`, never as markup.
"""

from __future__ import annotations

from rich.text import Text

from gatewatch_dashboard._literal import literal
from gatewatch_dashboard.block_sites import ago_text, parse_frame, site_index
from gatewatch_dashboard.figures import SiteRow
from gatewatch_dashboard.widgets._format import DIM, count, seconds

SITE_STYLE = "bold red"
MARK = "▶ "
INDENT = "  "


def worst_text(row: SiteRow) -> str:
    """The longest block; ``≥`` when the source kept fewer blocks than the span had; ``-`` when
    the source does not say (a ``/metrics`` page counts time, not single blocks)."""
    if row.worst <= 0:
        return "-"
    return ("≥" if row.worst_at_least else "") + seconds(row.worst)


def no_stack_text(kind: str) -> str:
    """What a row without a site says: a live view read no stack for those blocks; a ``/metrics``
    page and Prometheus count blocks per route only."""
    if kind == "live":
        return "(no stack read)"
    return "(no stacks: read the live view)"


def _frame(text: str, style: str, marked: bool) -> Text:
    """``path:line in function`` on one line, its source line under it."""
    frame = parse_frame(text)
    lead = MARK if marked else INDENT
    line = Text(lead, style=style, end="")
    line.append_text(literal(frame.where, style, limit=None))
    if frame.code:
        line.append("\n" + INDENT + "    ")
        line.append_text(literal(frame.code, DIM if not marked else style, limit=None))
    return line


def stack_text(row: SiteRow | None, *, kind: str, full: bool, empty: str) -> Text:
    """What the panel shows of ``row``: a heading, then its application frames (innermost last,
    the site marked), or with ``full`` every frame read (outermost first)."""
    if row is None:
        return literal(empty, DIM, limit=None)  # it may quote the route filter, typed or pasted
    text = Text(end="")
    text.append_text(literal(row.route, "bold", limit=None))
    text.append("  at  ")
    if row.site:
        text.append_text(literal(row.site, "bold", limit=None))
    else:
        text.append(no_stack_text(kind), style=DIM)
    text.append(
        f"\n{count(row.count)} block{'s' if row.count != 1 else ''}, {seconds(row.total)} held in all, "
        f"worst {worst_text(row)}"
    )
    if row.last_seen_ago is not None:
        text.append(f", last seen {ago_text(row.last_seen_ago)}")
    text.append("   source ")
    text.append_text(literal(row.source, limit=None))
    text.append("\n\n")
    if not row.stack and not row.outer_stack:
        if row.site:
            text.append("(no stack kept for this site)", style=DIM)
        return text
    above = len(row.outer_stack)
    if full:
        text.append(f"Whole stack, outermost first, innermost last ({above + len(row.stack)} frames)", DIM)
        text.append("   f: application frames only   shift+↑↓: scroll\n", DIM)
    else:
        text.append("The application's frames, innermost last", DIM)
        text.append(f"   f: whole stack ({above} frames above)\n" if above else "\n", DIM)
    site = site_index(row.stack, row.site)
    frames: list[Text] = []
    if full:
        frames.extend(_frame(frame, DIM, marked=False) for frame in row.outer_stack)
    frames.extend(
        _frame(frame, SITE_STYLE if index == site else "", marked=index == site)
        for index, frame in enumerate(row.stack)
    )
    text.append_text(Text("\n").join(frames))
    return text
