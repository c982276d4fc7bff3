"""The README's metrics table and ``docs/metrics.md``, generated from the catalogue.

``python -m gatewatch.catalogue_docs`` prints the README table; ``--write`` rewrites the
table between the README's markers and the whole of ``docs/metrics.md`` in a checkout;
``--check`` exits 1 when either differs from what the catalogue generates (the tests do
the same). Hand edits there are overwritten: change :mod:`gatewatch.catalogue` instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from decimal import Decimal
from pathlib import Path

from gatewatch.catalogue import METRICS, MetricSpec

TABLE_START = "<!-- metrics-table:start -->"
TABLE_END = "<!-- metrics-table:end -->"
REGENERATE = "python -m gatewatch.catalogue_docs --write"
# Paths relative to a checkout's root.
README = "README.md"
REFERENCE = "docs/metrics.md"

_MERGE = {
    "counter": "summed over all workers, dead ones included",
    "histogram": "summed over all workers, dead ones included",
    "livesum": "`livesum`: summed over the live workers",
    "liveall": "`liveall`: one series per live worker, with a `pid` label",
    "max": "`max`: a 0/1 gauge, the largest over all workers",
}


def _text(help_text: str) -> str:
    """Help text for a markdown cell: ``<background>`` would vanish as an HTML tag."""
    return re.sub(r"(<[\w-]+>)", r"`\1`", help_text).replace("|", "\\|")


def _labels(spec: MetricSpec) -> str:
    labels = ", ".join(spec.labels)
    if spec.multiprocess_mode == "liveall":
        labels = f"{labels} (pid)" if labels else "(pid)"
    return labels


def _bound(value: float) -> str:
    # 5e-05 as 0.00005: the way a person writes the bucket.
    return format(Decimal(repr(value)), "f").removesuffix(".0")


def _merge(spec: MetricSpec) -> str:
    return _MERGE[spec.multiprocess_mode or spec.kind]


def metrics_table_markdown() -> str:
    """The README's table: one row per metric, in catalogue order."""
    rows = ["| metric | key | type | labels | what |", "|---|---|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.key}` | {s.kind} | {_labels(s)} | {_text(s.help)} |" for s in METRICS]
    return "\n".join(rows) + "\n"


def metrics_reference_markdown() -> str:
    """The whole of ``docs/metrics.md``."""
    out = [
        "# Metrics reference",
        "",
        f"<!-- Generated from gatewatch/catalogue.py by `{REGENERATE}`; do not edit. -->",
        "",
        "Every metric gatewatch exports, as declared in `gatewatch/catalogue.py`: both Prometheus",
        "back ends (one process, and prometheus-client's multiprocess mode under gunicorn) build",
        "their families from that table, so a scrape has the same names, labels and buckets",
        "whichever one runs.",
        "",
        "- **name** is the name in a scrape and in PromQL: counters end in `_total`, info metrics",
        "  in `_info`; a histogram's name is the base of its `_bucket`, `_sum` and `_count` series.",
        "- **key** is the short name options use: the histogram keys are what `histograms=` and",
        "  `buckets=` take (every histogram family is on by default, with the buckets listed here).",
        "- **buckets** are upper bounds (`le`); `+Inf` is always added.",
        "- **multiprocess** says how prometheus-client merges the workers' files at a scrape.",
        "- **OpenTelemetry** is the instrument's name and UCUM unit: the HTTP semantic-convention",
        "  name where one exists, else a `gatewatch.*` name.",
        "",
        "| metric | key | type | unit | labels |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| [`{s.name}`](#{s.name}) | `{s.key}` | {s.kind} | {s.unit or '-'} | {_labels(s)} |"
        for s in METRICS
    ]
    for s in METRICS:
        out += ["", f"## {s.name}", "", _text(s.help), "", "| | |", "|---|---|"]
        out.append(f"| key | `{s.key}` |")
        out.append(f"| type | {s.kind} |")
        out.append(f"| unit | {s.unit or '- (a count)'} |")
        out.append(f"| labels | {', '.join(f'`{label}`' for label in s.labels) or '-'} |")
        if s.buckets:
            out.append(f"| buckets | {', '.join(_bound(b) for b in s.buckets)} |")
        out.append(f"| multiprocess | {_merge(s)} |")
        out.append(f"| OpenTelemetry | `{s.otel_name}` (`{s.otel_unit}`) |")
    return "\n".join(out) + "\n"


def readme_with_table(readme: str) -> str:
    """``readme`` with the generated table between its markers (ValueError without them)."""
    start, end = readme.find(TABLE_START), readme.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {TABLE_START} ... {TABLE_END} markers")
    head = readme[: start + len(TABLE_START)]
    return f"{head}\n{metrics_table_markdown()}{readme[end:]}"


def stale_files(root: Path) -> list[str]:
    """The generated files under ``root`` that differ from what the catalogue generates."""
    expected = {
        README: readme_with_table((root / README).read_text(encoding="utf-8")),
        REFERENCE: metrics_reference_markdown(),
    }
    stale = []
    for name, text in expected.items():
        path = root / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_files(root: Path) -> None:
    readme = root / README
    readme.write_text(readme_with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    reference = root / REFERENCE
    reference.parent.mkdir(exist_ok=True)
    reference.write_text(metrics_reference_markdown(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gatewatch.catalogue_docs", description="Metric docs from the catalogue."
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"rewrite {README}'s table and {REFERENCE}")
    action.add_argument("--check", action="store_true", help="exit 1 when either is out of date")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout (default: .)")
    args = parser.parse_args(argv)
    if args.write:
        write_files(args.root)
    elif args.check:
        stale = stale_files(args.root)
        if stale:
            print(f"out of date: {', '.join(stale)}; run {REGENERATE}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(metrics_table_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
