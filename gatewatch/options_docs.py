"""The options reference, generated from the options' declaration (:mod:`gatewatch.options`).

``python -m gatewatch.options_docs`` prints the markdown table; the docs site renders
:func:`options_table_markdown` (or lays out :func:`reference_rows` its own way). Change an
option's field in :class:`gatewatch.options.Options`, never the table.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

from gatewatch.options import KEYWORDS, ASGIKeywords, WSGIKeywords, declared_options


@dataclass(frozen=True)
class OptionRow:
    """One option as the reference shows it (each cell markdown)."""

    name: str
    type: str
    default: str
    environment: str
    django_key: str
    applies_to: str
    doc: str


def reference_rows() -> list[OptionRow]:
    """One row per option, in declaration order."""
    written = {**ASGIKeywords.__annotations__, **WSGIKeywords.__annotations__}
    rows = []
    for option in declared_options():
        variable = option.environment_variable
        rows.append(
            OptionRow(
                name=f"`{option.name}`",
                type=_type(written[option.name]),
                default=option.spec.default_doc or _default(option.default),
                environment=f"`{variable}`" if variable else "—",
                django_key=f"`{option.django_key}`",
                applies_to=_applies_to(option.name),
                doc=option.spec.doc.replace("|", "\\|"),
            )
        )
    return rows


def options_table_markdown() -> str:
    """The reference table: name, type, default, environment variable, Django key, interfaces, doc."""
    lines = [
        "| option | type | default | environment | Django key | applies to | what |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in reference_rows():
        cells = (row.name, row.type, row.default, row.environment, row.django_key, row.applies_to, row.doc)
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _type(annotation: object) -> str:
    # The keyword's type as written in gatewatch.options; "|" would split a markdown cell.
    text = annotation.__forward_arg__ if isinstance(annotation, typing.ForwardRef) else str(annotation)
    return " or ".join(f"`{part}`" for part in text.split(" | "))


def _default(value: object) -> str:
    # "/_gatewatch/live.json" as a user writes it in Python, TOML or JSON alike.
    return f'`"{value}"`' if isinstance(value, str) else f"`{value!r}`"


def _applies_to(name: str) -> str:
    interfaces = [interface.upper() for interface, names in KEYWORDS.items() if name in names]
    # Django's GatewatchMiddleware serves both interfaces and takes every option.
    return "both" if len(interfaces) == len(KEYWORDS) else f"{interfaces[0]}, Django"


if __name__ == "__main__":
    print(options_table_markdown(), end="")
