"""Prometheus rule files as data, and the YAML text ``grafana/rules/*.yml`` is written as.

The rules are declared in :mod:`recording_rules` and :mod:`alert_rules` with expressions from
:mod:`gatewatch.queries`; this module writes them in the layout a reader of the YAML expects
(comments kept, expressions as literal blocks, descriptions folded), which a YAML library's
dump would not keep.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

_WIDTH = 100


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str
    comment: str = ""


@dataclass(frozen=True)
class Alert:
    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook: str  # the section of docs/runbooks.md
    comment: str = ""


@dataclass(frozen=True)
class Group:
    name: str
    rules: Sequence[Recording | Alert]
    comment: str = ""


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, never broken inside a ``{{ template }}`` nor at a
    hyphen (a file name)."""
    glued = re.sub(r"\{\{.*?\}\}", lambda match: match.group().replace(" ", "\0"), text)
    return [line.replace("\0", " ") for line in textwrap.wrap(glued, width, break_on_hyphens=False)]


def _comment(text: str, indent: int) -> list[str]:
    prefix = " " * indent + "# "
    return [prefix + line for line in _wrap(text, _WIDTH - len(prefix))]


def _block(key: str, text: str, indent: int) -> list[str]:
    """``key: |`` and the expression's lines below it."""
    pad = " " * indent
    return [f"{pad}{key}: |", *(f"{pad}  {line}" for line in text.splitlines())]


def _recording(rule: Recording) -> list[str]:
    return [*_comment(rule.comment, 6), f"      - record: {rule.record}", *_block("expr", rule.expr, 8)]


def _alert(rule: Alert) -> list[str]:
    expr = _block("expr", rule.expr, 8) if "\n" in rule.expr else [f"        expr: {rule.expr}"]
    return [
        *_comment(rule.comment, 6),
        f"      - alert: {rule.alert}",
        *expr,
        f"        for: {rule.for_}",
        "        labels:",
        f"          severity: {rule.severity}",
        "        annotations:",
        # JSON's escapes are YAML's double-quoted ones: the summaries hold " and {{ }}.
        f"          summary: {json.dumps(rule.summary, ensure_ascii=False)}",
        "          description: >-",
        *("            " + line for line in _wrap(rule.description, _WIDTH - 12)),
        f"          runbook_url: docs/runbooks.md#{rule.runbook}",
    ]


def render(header: str, groups: Sequence[Group]) -> str:
    """A rule file: ``header`` as its leading comment, then the groups."""
    lines = [*_comment(header, 0), "groups:"]
    for index, group in enumerate(groups):
        if index:
            lines.append("")
        lines += [*_comment(group.comment, 2), f"  - name: {group.name}", "    rules:"]
        for position, rule in enumerate(group.rules):
            if isinstance(rule, Alert):
                lines += ([""] if position else []) + _alert(rule)
            else:
                lines += _recording(rule)
    return "\n".join(lines) + "\n"
