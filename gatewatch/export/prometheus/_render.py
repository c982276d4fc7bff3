"""gatewatch's own families as exposition text, straight from the aggregator's tables.

prometheus-client's ``generate_latest`` builds a Sample (a label dict) per line and formats
each line from scratch: sorting, escaping and quoting the labels again at every scrape. A
series' labels never change, so its line prefixes (``name_bucket{...,le="``, ``name_count{...} ``)
are built once and kept; each scrape only formats the numbers, with C-level helpers (cumulative
counts by ``accumulate``, ``repr`` through ``map``, one ``join`` per series).

The lines are the same samples as prometheus-client's (the labels in the declared order, ``le``
last, which parsers and Prometheus take as the same series).
"""

from __future__ import annotations

from itertools import accumulate, repeat
from operator import add
from typing import Final

from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.samples import Exemplar

from gatewatch import catalogue as c
from gatewatch._histogram import cumulative_buckets, new_series

TEXT: Final = "text"
OPENMETRICS: Final = "openmetrics"

# Python spells the non-finite floats otherwise; OpenMetrics requires these exactly.
_NON_FINITE: Final = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}
_special = _NON_FINITE.get


def number(value: float) -> str:
    """A valid Prometheus number, spelled as a float as prometheus-client spells it (``3.0``,
    ``1e-05``; larger ones without its Go-style exponent: ``1234567.0``, the same number)."""
    text = repr(float(value))
    return _special(text, text)


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


# prometheus-client's per-kind sample suffixes and the type the text format (0.0.4) calls it.
_SUFFIX: Final = {"counter": "_total", "info": "_info", "gauge": "", "histogram": ""}
_TEXT_TYPE: Final = {"counter": "counter", "info": "gauge", "gauge": "gauge", "histogram": "histogram"}


class Family:
    """How one family is spelled (for one name escaping and one set of label names): its
    headers in both formats, its sample names, and every series' line prefixes once made."""

    __slots__ = (
        "bounds",
        "headers",
        "kind",
        "label_names",
        "lines_per_series",
        "names",
        "prefixes",
        "sample_names",
    )

    def __init__(
        self,
        kind: str,
        family: str,
        help_text: str,
        label_names: tuple[str, ...],
        bounds: tuple[float, ...],
        escaping: str,
    ) -> None:
        self.kind = kind
        exposed = family + _SUFFIX[kind]
        self.label_names = tuple(escape_label_name(name, escaping) for name in label_names)
        text_help = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        text_name = escape_metric_name(exposed, escaping)
        om_name = escape_metric_name(family, escaping)
        self.headers = {
            TEXT: f"# HELP {text_name} {text_help}\n# TYPE {text_name} {_TEXT_TYPE[kind]}\n",
            OPENMETRICS: f"# HELP {om_name} {_escape_value(help_text)}\n# TYPE {om_name} {kind}\n",
        }
        if kind == "histogram":
            self.sample_names: tuple[str, ...] = (family + "_bucket", family + "_count", family + "_sum")
            # The bounds as a bucket's le label spells them.
            self.bounds = [le for le, _ in cumulative_buckets(bounds, new_series(bounds))]
        else:
            self.sample_names = (exposed,)
            self.bounds = []
        self.lines_per_series = len(self.bounds) + 2 if self.bounds else 1
        self.names = tuple(escape_metric_name(name, escaping) for name in self.sample_names)
        # Label values -> the series' line prefixes (see _prefixes).
        self.prefixes: dict[tuple[str, ...], tuple[str, ...]] = {}

    @classmethod
    def of_slot(
        cls, slot: int, label_names: tuple[str, ...], bounds: tuple[float, ...], escaping: str
    ) -> Family:
        """Catalogue family ``slot`` as the single-process aggregator exports it."""
        spec = c.METRICS[slot]
        return cls(spec.kind, spec.family, spec.help, label_names, bounds, escaping)

    def _prefixes(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """A histogram's: its bucket line up to the bound, the same after a line's end (to join
        the bucket lines with), then its count and sum lines up to the value, each after a
        line's end. Any other's: its line up to the value."""
        # Label names sorted, le among them, as prometheus-client writes them: the same bytes.
        pairs = sorted(
            (name, f'{name}="{_escape_value(value)}"')
            for name, value in zip(self.label_names, labels, strict=True)
        )
        inner = ",".join(text for _, text in pairs)
        if self.kind != "histogram":
            made: tuple[str, ...] = (f"{self.names[0]}{{{inner}}} " if inner else f"{self.names[0]} ",)
        else:
            bucket_name, count_name, sum_name = self.names
            before = "".join(text + "," for name, text in pairs if name < "le")
            after = "".join("," + text for name, text in pairs if name > "le")
            bucket = f'{bucket_name}{{{before}le="'
            tail = f"{{{inner}}} " if inner else " "
            # What follows a bucket's bound: the rest of its labels.
            made = (bucket, "\n" + bucket, f"\n{count_name}{tail}", f"\n{sum_name}{tail}", f'"{after}}} ')
        self.prefixes[labels] = made
        return made

    def lines(
        self,
        out: list[str],
        labels: list[tuple[str, ...]],
        totals: list[list[float]],
        exemplars: list[list[Exemplar | None] | None] | None = None,
        parts: tuple[bool, ...] = (True, True, True),
    ) -> None:
        """Append the series' lines to ``out``; ``exemplars`` (OpenMetrics) per series, and
        ``parts`` the histogram's samples wanted (buckets, count, sum: a name[] filter)."""
        known = self.prefixes.get
        if self.kind != "histogram":
            info = self.kind == "info"
            for series_labels, values in zip(labels, totals, strict=True):
                prefix = known(series_labels) or self._prefixes(series_labels)
                out += (prefix[0], "1.0" if info else number(values[-1]), "\n")
            return
        bounds = self.bounds
        size = len(bounds)
        every = parts == (True, True, True)
        for index, (series_labels, values) in enumerate(zip(labels, totals, strict=True)):
            bucket, between, count, total, rest = known(series_labels) or self._prefixes(series_labels)
            ends = map(add, bounds, repeat(rest))
            counts = list(map(repr, map(float, accumulate(values[:size]))))
            seen = counts[-1]
            marks = None if exemplars is None else exemplars[index]
            if marks is not None:
                counts = list(map(add, counts, map(_exemplar, marks)))
            if every:
                out += (bucket, between.join(map(add, ends, counts)), count, seen, total)
                out += (number(values[-1]), "\n")
                continue
            # A name[] filter: each line kept starts after the previous one's end.
            if parts[0]:
                out += (bucket, between.join(map(add, ends, counts)), "\n")
            if parts[1]:
                out += (count[1:], seen, "\n")
            if parts[2]:
                out += (total[1:], number(values[-1]), "\n")


def _exemplar(exemplar: Exemplar | None) -> str:
    """What follows a bucket's count in OpenMetrics: prometheus-client's spelling."""
    if exemplar is None:
        return ""
    labels = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(exemplar.labels.items()))
    stamp = "" if exemplar.timestamp is None else f" {exemplar.timestamp}"
    return f" # {{{labels}}} {number(exemplar.value)}{stamp}"
