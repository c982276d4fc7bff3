"""Read a Prometheus exposition back into numbers, through gatewatch's own scrape reader."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample

from gatewatch.export.prometheus.scrape_summary import parse, total
from tests.support.promtool import check_metrics


def _text(text_or_registry: str | CollectorRegistry) -> str:
    if isinstance(text_or_registry, CollectorRegistry):
        text = generate_latest(text_or_registry).decode()
    else:
        text = text_or_registry
    # Every exposition a test reads must also be one Prometheus accepts.
    check_metrics(text)
    return text


def read(text_or_registry: str | CollectorRegistry) -> list[Sample]:
    """Every sample of an exposition, checked once: for several questions of one large scrape."""
    return parse(_text(text_or_registry))


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value for sample in parse(_text(text))}


def value(text_or_registry: str | CollectorRegistry, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
    return total(read(text_or_registry), name, **labels)


def label_values(text_or_registry: str | CollectorRegistry, name: str, label: str) -> set[str]:
    return labels_of(read(text_or_registry), name, label)


def labels_of(samples: list[Sample], name: str, label: str) -> set[str]:
    return {sample.labels[label] for sample in samples if sample.name == name and label in sample.labels}
