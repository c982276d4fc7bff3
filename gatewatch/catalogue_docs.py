"""The metrics and options references of the docs site, rendered from the code.

The site's hook (``docs/hooks.py``) puts :func:`metrics_reference_markdown` and
:func:`options_reference_markdown` in place of their markers when ``mkdocs build`` runs, so
the references are never committed and never stale: change :mod:`gatewatch.catalogue` or
:mod:`gatewatch.options` instead.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass
from decimal import Decimal

from gatewatch.catalogue import METRICS, MetricSpec
from gatewatch.options import DEFAULT, ENVIRONMENT, Options

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
        out.append(f"| labels | {', '.join(f'`{label}`' for label in s.labels) or '-'} |")
        if s.buckets:
            out.append(f"| buckets | {', '.join(_bound(b) for b in s.buckets)} |")
        out.append(f"| multiprocess | {_merge(s)} |")
        out.append(f"| OpenTelemetry | `{s.otel_name}` (`{s.otel_unit}`) |")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class OptionDoc:
    """What the reference says about one option."""

    name: str
    type: str
    default: str
    environment: str | None
    django_key: str
    doc: str


def _field_comments() -> dict[str, str]:
    """The comment written above each field of :class:`Options`, by field name (fields
    declared one after the other under one comment share it)."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    shared = ""
    for line in inspect.getsource(Options).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        field = re.match(r"(\w+):", stripped)
        if field and field.group(1) not in comments:
            shared = " ".join(pending) or shared
            comments[field.group(1)] = shared
        else:
            shared = ""
        pending = []
    return comments


def _default(field: dataclasses.Field[object]) -> str:
    if field.default is DEFAULT:
        # A default that depends on the interface: what each one gets.
        options = Options()
        by_interface = {interface: options.queue_header(interface) for interface in ("wsgi", "asgi")}
        return ", ".join(f"`{value!r}` ({interface.upper()})" for interface, value in by_interface.items())
    return f"`{field.default!r}`"


def option_docs() -> list[OptionDoc]:
    """Every option, from what :mod:`gatewatch.options` declares: the field's name, type and
    default, its ``GATEWATCH_*`` variable, its Django key and the comment above it."""
    variables = {name: variable for variable, name in ENVIRONMENT.items()}
    comments = _field_comments()
    return [
        OptionDoc(
            name=field.name,
            type=str(field.type),
            default=_default(field),
            environment=variables.get(field.name),
            django_key=field.name.upper(),
            doc=comments.get(field.name, ""),
        )
        for field in dataclasses.fields(Options)
    ]


def options_reference_markdown() -> str:
    """Every option: one row each, in declaration order."""
    out = [
        "| option | type | default | environment | Django key | what |",
        "|---|---|---|---|---|---|",
    ]
    for option in option_docs():
        variable = f"`{option.environment}`" if option.environment else "-"
        out.append(
            f"| `{option.name}` | `{option.type}` | {option.default} | {variable} "
            f"| `{option.django_key}` | {_text(option.doc)} |"
        )
    return "\n".join(out) + "\n"
