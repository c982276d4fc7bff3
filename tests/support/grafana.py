"""Read gatewatch's Grafana boards and Prometheus rules: their PromQL, metric and label names.

Used by the ``tests/test_grafana_*.py`` tests: the structural checks of the dashboard JSON,
the catalogue check of every name, and the run of every expression on a real Prometheus.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from gatewatch.catalogue import METRICS, MetricSpec, by_name
from tests.support.traffic import ROOT

GRAFANA = ROOT / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
RULES = GRAFANA / "rules"
RULE_FILES = (RULES / "gatewatch-recording.yml", RULES / "gatewatch-alerts.yml")
# In a directory of its own, so that the glob gatewatch-*.yml takes only the rule files.
RULE_TESTS = RULES / "tests" / "gatewatch-alerts.test.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

# Labels Prometheus or the exposition adds to gatewatch's own: the scrape's target labels,
# a histogram's bucket bound, a multiprocess gauge's worker.
EXTRA_LABELS = frozenset({"job", "instance", "le", "pid", "__name__"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# What the board variables stand for when an expression runs outside Grafana: everything,
# with the interface as the regex a multi-value selection of both would give.
VARIABLES: Mapping[str, str] = {
    "job": ".*",
    "instance": ".*",
    "interface": "(asgi|wsgi)",
    "route": ".*",
    "__rate_interval": "30s",
    "__interval": "2s",
    "__range": "5m",
}

_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
)
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_IDENTIFIER = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*")
_COMPARISON = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*\(?[\d.\s*+/-]+\)?\s*$")


@dataclass(frozen=True)
class Query:
    """One PromQL expression and where it comes from (for failure messages)."""

    where: str
    expr: str


def load_generator() -> ModuleType:
    """``grafana/generate.py``, which writes the dashboard JSON and the rule files (the checkout's
    ``grafana`` package: the tests run from the repository root)."""
    return importlib.import_module("grafana.generate")


def variable_query(variable: Mapping[str, Any]) -> str:
    """A board variable's ``label_values(...)`` query."""
    query: str = variable["query"]["query"]
    return query


def dashboards() -> dict[str, dict[str, Any]]:
    """Every board in ``grafana/dashboards``, by file name."""
    boards: dict[str, dict[str, Any]] = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        boards[path.name] = json.loads(path.read_text())
    return boards


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def board_queries(name: str, board: Mapping[str, Any]) -> list[Query]:
    return [
        Query(f"{name}: {panel['title']!r} {target['refId']}", target["expr"])
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in RULE_FILES:
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def recording_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def rule_queries() -> list[Query]:
    return [Query(rule.get("record") or rule["alert"], rule["expr"]) for rule in rules()]


def variables_used(text: str) -> set[str]:
    """Names of the ``$var``, ``${var}``, ``${var:format}`` and ``[[var]]`` references in ``text``,
    Grafana's own (``$__rate_interval``, ``${__data.fields.route}``) left out."""
    found = {next(group for group in match.groups() if group) for match in _VARIABLE.finditer(text)}
    return {name for name in found if not name.startswith("__")}


def substitute(expr: str, values: Mapping[str, str] = VARIABLES) -> str:
    """``expr`` with each board variable replaced by its value in ``values``."""

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def _strip_strings(expr: str) -> str:
    return _STRING.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names an expression reads."""
    text = _strip_strings(expr)
    text = _GROUPING.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors and subqueries
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        following = text[match.end() :].lstrip()
        if word in _KEYWORDS or following.startswith("("):  # a function or an aggregation
            continue
        names.add(word)
    return names


def label_names(expr: str) -> set[str]:
    """Label names an expression matches on or groups by."""
    text = _strip_strings(expr)
    found: set[str] = set()
    for match in _GROUPING.finditer(text):
        found.update(part.strip() for part in match.group(2).split(",") if part.strip())
    for match in _MATCHERS.finditer(text):
        for matcher in match.group(1).split(","):
            name = re.match(r"\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)", matcher)
            if name:
                found.add(name.group(1))
    return found


def catalogue_spec(name: str) -> MetricSpec | None:
    """The catalogue entry a series name belongs to (a histogram's ``_bucket``/``_sum``/``_count``
    resolve to the histogram), or None."""
    try:
        return by_name(name)
    except KeyError:
        pass
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            try:
                spec = by_name(name.removesuffix(suffix))
            except KeyError:
                continue
            if spec.kind == "histogram":
                return spec
    return None


def known_labels() -> set[str]:
    return {label for spec in METRICS for label in spec.labels} | EXTRA_LABELS


def split_top_level(expr: str, operator: str) -> list[str]:
    """``expr`` split on a binary ``operator`` (``and``) outside parentheses and braces."""
    parts, depth, start = [], 0, 0
    pattern = re.compile(rf"\b{operator}\b")
    index = 0
    while index < len(expr):
        char = expr[index]
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        elif depth == 0 and (match := pattern.match(expr, index)) is not None:
            parts.append(expr[start:index])
            start = index = match.end()
            continue
        index += 1
    parts.append(expr[start:])
    return [part.strip() for part in parts]


def without_threshold(expr: str) -> list[str]:
    """An alert's expression as the values it compares: each ``and`` operand with its trailing
    comparison against a constant taken off (``x > 0.1 and y * 60 >= 1`` → ``x``, ``y * 60``)."""
    return [_COMPARISON.sub("", part).strip() for part in split_top_level(expr, "and")]


def label_values_query(definition: str) -> tuple[str, str]:
    """A ``label_values(selector, label)`` variable query as (selector, label)."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", definition, re.DOTALL)
    assert match is not None, f"not a label_values() query: {definition!r}"
    return match.group(1).strip(), match.group(2)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    return {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
