"""The metrics reference of the docs site, rendered from the catalogue.

The site's hook (``docs/hooks.py``) puts :func:`metrics_reference_markdown` in place of its
marker (and :func:`gatewatch.options_docs.options_table_markdown` in place of the options'
one) when ``mkdocs build`` runs, so the references are never committed and never stale:
change :mod:`gatewatch.catalogue` or :mod:`gatewatch.options` instead.
"""

from __future__ import annotations

import re
from decimal import Decimal

from gatewatch.catalogue import METRICS, MetricSpec

METRICS_MARKER = "<!-- gatewatch:metrics-reference -->"
OPTIONS_MARKER = "<!-- gatewatch:options-reference -->"

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
    if spec.lean_labels is not None:
        labels = f'{", ".join(spec.lean_labels)} ({labels} with series="full")'
    if spec.multiprocess_mode == "liveall":
        labels = f"{labels} (pid)" if labels else "(pid)"
    return labels


def _bound(value: float) -> str:
    # 5e-05 as 0.00005: the way a person writes the bucket.
    return format(Decimal(repr(value)), "f").removesuffix(".0")


def _merge(spec: MetricSpec) -> str:
    return _MERGE[spec.multiprocess_mode or spec.kind]


def metrics_reference_markdown() -> str:
    """Every metric of the catalogue: a summary table, then a section each."""
    out = [
        "## Reference",
        "",
        "Every metric gatewatch exports, as declared in `gatewatch/catalogue.py` (this reference",
        "is rendered from it when the site is built): both Prometheus back ends (one process, and",
        "prometheus-client's multiprocess mode under gunicorn) build their families from that",
        "table, so a scrape has the same names, labels and buckets whichever one runs.",
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
        "| metric | key | type | labels | what |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| [`{s.name}`](#{s.name}) | `{s.key}` | {s.kind} | {_labels(s)} | {_text(s.help)} |"
        for s in METRICS
    ]
    for s in METRICS:
        out += ["", f"### {s.name}", "", _text(s.help), "", "| | |", "|---|---|"]
        out.append(f"| key | `{s.key}` |")
        out.append(f"| type | {s.kind} |")
        out.append(f"| unit | {s.unit or '- (a count)'} |")
        labels = ", ".join(f"`{label}`" for label in s.labels) or "-"
        if s.lean_labels is not None:
            lean = ", ".join(f"`{label}`" for label in s.lean_labels)
            labels = f'{lean}; {labels} with `series="full"`'
        out.append(f"| labels | {labels} |")
        if s.buckets:
            out.append(f"| buckets | {', '.join(_bound(b) for b in s.buckets)} |")
        out.append(f"| multiprocess | {_merge(s)} |")
        out.append(f"| OpenTelemetry | `{s.otel_name}` (`{s.otel_unit}`) |")
    return "\n".join(out) + "\n"
